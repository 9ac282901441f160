"""QA videos: side-by-side panels, the reconstruction replayed over its clip, and the
dense-flow and render-mode exports shared by the command line and the GUI.

``panels`` holds pure image-composition functions; ``clip`` checks that a
reconstruction belongs to a video and yields its posed meshes; ``flow_video`` and
``render_video`` write the QA videos (they take an optional renderer so a GUI can pass
its RenderThread; without one they make an OffscreenRenderer on the calling thread).
"""
from core.qa.clip import ClipMeshes, check_model_matches, check_reconstruction_matches, frames_to_use
from core.qa.panels import blend_over, label, paste, side_by_side

__all__ = ["ClipMeshes", "check_model_matches", "check_reconstruction_matches", "frames_to_use", "blend_over", "label",
           "paste", "side_by_side"]
