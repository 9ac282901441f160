"""The feature panels that dock into the main window.

Each feature (reenactment, the expression editor, ...) owns its widgets and its
controller and installs itself into a bare ``MainWindow``; this module is the one
place that lists them, so the app, its screenshot tools and its tests build the
same window.
"""
from __future__ import annotations


def install_panels(win) -> dict:
    """Install every feature panel into ``win`` (an ``app.main_window.MainWindow``).

    Returns the controllers by name, e.g. ``{"reenact": ReenactController}``.
    """
    from app.reenact_controller import install_reenact_panel

    controllers = {"reenact": install_reenact_panel(win)}
    reenact = controllers["reenact"]
    # the editor's "Train a neural renderer on this clip" runs in the reenactment panel's training
    # (one training at a time, its progress, loss curves and sheet in that panel)
    win.editor.renderer_training_requested.connect(
        lambda target: (reenact.show_panel(), reenact.train_renderer(target_path=target)))
    if win.settings.value("window/state") is None:
        # first run (no saved layout): the reenactment panel shares the bottom strip with
        # the curves as a tab, so the curves get the window's width and the 3D view and
        # the sliders keep the right-hand column
        win.tabifyDockWidget(win.editor.panels.curves_dock, controllers["reenact"].dock)
        win.editor.panels.apply_default_layout()
    return controllers
