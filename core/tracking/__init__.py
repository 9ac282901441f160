"""Face tracking: MediaPipe FaceLandmarker, face selection across frames, track-loss
handling and temporal filtering.

``track_video`` / ``track_frames`` / ``track_image`` return a ``TrackResult``;
``FaceTracker`` serves live sources frame by frame.
"""
from core.tracking.result import TrackResult
from core.tracking.tracker import (FaceTracker, FrameTrack, lost_ranges, require_face,
                                   track_frames, track_image, track_video)

__all__ = ["TrackResult", "FaceTracker", "FrameTrack", "track_video", "track_frames",
           "track_image", "require_face", "lost_ranges"]
