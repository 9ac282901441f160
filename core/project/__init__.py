"""The project document: reconstruction + track + settings + edits in a crash-safe folder."""
from core.project.document import FORMAT, SCHEMA_VERSION, Project, load_project, save_project

__all__ = ["FORMAT", "SCHEMA_VERSION", "Project", "load_project", "save_project"]
