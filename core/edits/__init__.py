"""Expression editing: keyframed offsets on the fitted expressions (``curves``), rendering
the edit back into the footage (``preview``) and exporting it (``export``).

The project's ``edits`` dict keeps the expression edits under the key ``"expression"``
(:meth:`ExpressionEdits.to_dict`).
"""
from core.edits.curves import (INTERPOLATIONS, KEY_TYPES, PROJECT_KEY, ComponentEdit, EditRange, ExpressionEdits,
                               smoothstep)
from core.edits.export import (edited_expressions, export_curves_csv, export_curves_json, export_meshes,
                               export_png_sequence, export_video, render_project)
from core.edits.preview import EditedFrameRenderer

__all__ = ["INTERPOLATIONS", "KEY_TYPES", "ComponentEdit", "EditRange", "ExpressionEdits", "smoothstep",
           "edited_expressions", "export_curves_csv", "export_curves_json", "export_meshes",
           "export_png_sequence", "export_video", "render_project", "EditedFrameRenderer",
           "PROJECT_KEY"]
