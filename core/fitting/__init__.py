"""4D face reconstruction: cameras, whole-video fit, per-frame fit (see docs/fitting.md).

``reconstruct(track, model, spec)`` is the entry point used by the GUI and the CLI.
"""
from core.fitting.basis import LandmarkBasis, basis_from_embedding, basis_from_vertices, basis_landmarks68
from core.fitting.camera_fit import fit_cameras, smooth_cameras
from core.fitting.frame_fit import FrameFit, FrameFitter
from core.fitting.pipeline import clip_frames, reconstruct
from core.fitting.reconstruction import Reconstruction
from core.fitting.settings import FitSettings
from core.fitting.video_fit import VideoFit, fit_video
from core.fitting.weights import map_blendshapes, tracker_point_weights

__all__ = ["LandmarkBasis", "basis_from_embedding", "basis_from_vertices", "basis_landmarks68", "fit_cameras",
           "smooth_cameras", "FrameFit", "FrameFitter", "clip_frames", "reconstruct", "Reconstruction", "FitSettings",
           "VideoFit", "fit_video", "map_blendshapes", "tracker_point_weights"]
