"""The expression editor (see :mod:`app.editor.controller`): document, panels, edited
preview, project I/O and actions, each in its own module."""
from app.editor.controller import EditorUI
from app.editor.document import EditCommand, EditorDocument
from app.editor.project_io import ProjectIO, is_project_folder, read_project_for_editing

__all__ = ["EditCommand", "EditorDocument", "EditorUI", "ProjectIO", "is_project_folder", "read_project_for_editing"]
