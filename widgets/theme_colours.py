"""The dark theme's colours, shared by ``app/theme.py`` (the palette and style sheet it applies)
and the widgets that paint themselves (``expression_panel``'s value bars): one place for each
colour. Hex strings, as Qt style sheets and ``QColor`` take them."""

#: the palette's window and base, and what the style sheet adds
DARK = {"window": "#303338", "base": "#24262a", "button": "#383c42", "text": "#e1e4e8",
        "accent": "#3d8fe0", "accent_edge": "#8cc0f5",      # checked buttons, check marks, slider fill
        "frame": "#a4abb6", "frame_hover": "#d0d6de",       # check box frames
        "frame_disabled": "#5c626a", "track": "#8a919c"}    # slider tracks (unfilled part)
