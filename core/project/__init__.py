"""The project document: reconstruction + track + settings + edits in a crash-safe folder."""
from core.project.document import (FORMAT, SCHEMA_VERSION, OpenProject, Project, load_project, open_project,
                                   save_project)
from core.project.lock import ProjectLock, holder_of, lock_project

__all__ = ["FORMAT", "SCHEMA_VERSION", "OpenProject", "Project", "ProjectLock", "holder_of", "load_project",
           "lock_project", "open_project", "save_project"]
