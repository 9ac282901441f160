"""Video input and output.

Sources (files, images, image folders, webcams, simulated cameras) deliver upright
(H, W, 3) uint8 RGB frames through one interface; ``open_source(spec)`` picks the class.
``VideoWriter`` writes H.264 mp4 keeping a source's audio; ``probe`` describes a file.
"""
from core.video.ffmpeg_tools import ffmpeg_exe, probe
from core.video.live import LiveSource, SimulatedCamera, StreamEnded, WebcamSource
from core.video.open import open_source, read_clip
from core.video.source import ImageFolderSource, ImageSource, VideoFileSource, VideoSource
from core.video.writer import VideoWriter, write_png_sequence

__all__ = ["read_clip", "VideoSource", "VideoFileSource", "ImageSource", "ImageFolderSource", "LiveSource",
           "WebcamSource", "SimulatedCamera", "StreamEnded", "open_source", "VideoWriter",
           "write_png_sequence", "probe", "ffmpeg_exe"]
