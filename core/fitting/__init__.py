"""4D face reconstruction: cameras, whole-video fit, per-frame fit (see docs/fitting.md).

``reconstruct_clip(input or track, model, settings, ...)`` (core/fitting/clip.py) tracks and
fits a clip: the entry point of the GUI, the command line, the QA commands and reenactment.
``reconstruct(track, model, spec)`` fits a given track.
"""
from core.fitting.basis import LandmarkBasis, basis_from_embedding, basis_from_vertices, basis_landmarks68
from core.fitting.camera_fit import fit_cameras, smooth_cameras
from core.fitting.clip import ClipReconstruction, reconstruct_clip
from core.fitting.frame_fit import FrameFit, FrameFitter
from core.fitting.pipeline import clip_frames, reconstruct
from core.fitting.reconstruction import Reconstruction
from core.fitting.settings import FitSettings
from core.fitting.video_fit import VideoFit, fit_video
from core.fitting.weights import map_blendshapes, tracker_point_weights

__all__ = ["ClipReconstruction", "FitSettings", "FrameFit", "FrameFitter", "LandmarkBasis", "Reconstruction",
           "VideoFit", "basis_from_embedding", "basis_from_vertices", "basis_landmarks68", "clip_frames",
           "fit_cameras", "fit_video", "map_blendshapes", "reconstruct", "reconstruct_clip", "smooth_cameras",
           "tracker_point_weights"]
