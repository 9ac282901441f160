"""FaceStudio's computation: everything but the GUI (never imports Qt); see docs/ARCHITECTURE.md."""
