"""A target clip made ready for the rendering network: its fitted face, and per frame the
real crop, the conditioning (NMFC + eyes) and the picture the output is blended into.

Self-reenactment (thesis 7.2.4): the target clip is its own source, so every frame's fitted
face gives the conditioning and the frame itself is the ground truth. The last
``HELD_OUT`` (20%) of the frames are kept for validation and never trained on.

The *base* of a frame is what the network's output is blended into (and, for the hybrid network,
one of its inputs): a picture of the target other than the frame itself, as in reenactment,
where the renderer gets a target picture and a driven face. ``REFERENCES`` frames spread over
the training part serve as these pictures (the first is frame 0, the picture the quality bench
uses as the still target); frame t uses reference ``references[(t // REFERENCE_RUN) % K]`` so
consecutive frames share one. For the pure network the base is the reference's crop; for the
hybrid it is the warp renderer's output for frame t's face drawn into the reference (the
warp of a still: no mouth bank, so the frame's own mouth can never leak in).

Arrays (N frames, S the crop side): real, base (N, S, S, 3) uint8 RGB; cond (N, S, S, 6) uint8
(NMFC, eyes); mouth (N, 2) float32 crop pixels; valid (N,) bool. They are kept as ``.npy``
files in the renderer folder's ``data/`` (memory-mapped), keyed by what made them, so a resumed
training does not prepare them again.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_text_atomic
from core.errors import InputError
from core.jobs import CancelToken, ProgressFn, check, report
from core.model.face_model import FaceModel
from core.neural.conditioning import Conditioner, CropBox, mouth_centre, region_box
from core.reenact.faces import FittedFace
from core.warp import FrameRequest, WarpRenderer, WarpSettings

#: the share of a clip held out for validation (its end)
HELD_OUT = 0.2
#: target pictures (bases) spread over the training part, and how many consecutive frames share one
REFERENCES = 4
REFERENCE_RUN = 24
DATA_VERSION = 1


@dataclass
class Target:
    """A target clip to train on: its fitted face and where its frames are read from.

    name : for messages; video : the video file (or folder) of the frames; face : FittedFace
    (one identity, per frame a state, the track); model_spec : what the face model was loaded from;
    fps : the clip's frame rate
    """

    name: str
    video: str
    face: FittedFace
    model: FaceModel
    model_spec: str
    fps: float

    @property
    def num_frames(self) -> int:
        return self.face.num_frames


def load_target(spec: str, model_spec: str = "builtin", max_frames: int | None = None,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                cache: str | Path | None = None) -> Target:
    """A target from a video (tracked and fitted as the reenactment fits a target,
    ``ReenactmentPipeline.prepare``) or from a project folder (its own reconstruction and track;
    the track is made when the project has none). InputError for anything unusable.

    cache : a folder (the renderer's ``data/``) where a video's track and fit are kept and found
        again (keyed by the file, its size and time, the frame count and the model), so resuming
        a training or evaluating it does not fit the clip again.
    """
    from core.model.registry import load_model
    from core.project.document import JSON_NAME
    from core.reenact.faces import from_reconstruction
    from core.reenact.pipeline import ReenactmentPipeline
    from core.video import open_source

    p = Path(spec)
    if not p.exists():
        raise InputError(f"{spec}: target not found")
    if p.is_dir() and (p / JSON_NAME).is_file():
        from core.project import load_project
        from core.tracking.tracker import track_video

        proj = load_project(p)
        rec, video = proj.reconstruction_and_source()
        model_spec = proj.model_spec or rec.model_spec or model_spec
        model = load_model(model_spec)
        track = proj.track
        if track is None:
            report(progress, 0, 0, "tracking the project's video")
            track = track_video(str(video), max_frames=rec.num_frames, progress=progress, cancel=cancel)
        if track.num_frames != rec.num_frames:
            raise InputError(f"{spec}: the track has {track.num_frames} frames, the reconstruction {rec.num_frames}")
        face = from_reconstruction(rec, track, model, str(p))
        if max_frames is not None and max_frames < face.num_frames:
            raise InputError(f"{spec}: --max-frames does not apply to a project (it has {face.num_frames} frames)")
        fps = float(rec.fps)
        video = str(video)
    else:
        with open_source(str(p)) as src:
            if src.is_live or src.frame_count < 2:
                raise InputError(f"{spec}: a renderer is trained on a video of the target (a clip, "
                                 "not a photo or a camera)")
            fps = float(src.fps) or 30.0
        model = load_model(model_spec)
        face = _cached_fit(Path(cache), p, model, model_spec, max_frames) if cache is not None else None
        if face is None:
            face = ReenactmentPipeline(model, model_spec=model_spec).prepare(str(p), max_frames=max_frames,
                                                                             progress=progress, cancel=cancel)
            if cache is not None:
                Path(cache).mkdir(parents=True, exist_ok=True)
                key = _fit_key(p, model_spec, max_frames)
                face.track.save(Path(cache) / f"target_track_{key}.npz")
                face.rec.save(Path(cache) / f"target_fit_{key}.npz")
        video = str(p)
    if face.num_frames < 20:
        raise InputError(f"{spec}: {face.num_frames} frames; a renderer needs a clip of at least 20 frames")
    return Target(str(spec), video, face, model, model_spec, fps)


def _fit_key(video: Path, model_spec: str, max_frames: int | None) -> str:
    st = video.stat()
    ident = [str(video.resolve()), st.st_size, st.st_mtime_ns, model_spec, max_frames, DATA_VERSION]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]


def _cached_fit(cache: Path, video: Path, model: FaceModel, model_spec: str,
                max_frames: int | None) -> FittedFace | None:
    """The FittedFace kept by ``load_target`` in ``cache``, or None (absent or unreadable)."""
    from core.fitting.reconstruction import Reconstruction
    from core.reenact.faces import from_reconstruction
    from core.tracking.result import TrackResult

    key = _fit_key(video, model_spec, max_frames)
    tp, rp = cache / f"target_track_{key}.npz", cache / f"target_fit_{key}.npz"
    if not (tp.is_file() and rp.is_file()):
        return None
    try:
        track, rec = TrackResult.load(tp), Reconstruction.load(rp)
    except (InputError, OSError, ValueError, KeyError):
        return None
    return from_reconstruction(rec, track, model, str(video))


@dataclass
class ClipData:
    """The prepared arrays of one target clip (see the module docstring)."""

    box: CropBox
    real: np.ndarray
    cond: np.ndarray
    base: np.ndarray
    mouth: np.ndarray
    valid: np.ndarray
    train_end: int
    references: list[int]
    hybrid: bool
    fps: float

    @property
    def num_frames(self) -> int:
        return int(len(self.real))

    @property
    def size(self) -> int:
        return int(self.real.shape[1])

    def nmfc_mask(self, frame: int) -> np.ndarray:
        """(S, S) bool: where the NMFC image shows the face (MAPD's mask)."""
        return np.any(np.asarray(self.cond[frame, ..., :3]) > 0, axis=-1)


def split(num_frames: int) -> int:
    """The first held-out frame: the last ``HELD_OUT`` of the clip is never trained on."""
    return int(np.floor(num_frames * (1 - HELD_OUT)))


def reference_frames(valid: np.ndarray, train_end: int, count: int = REFERENCES) -> list[int]:
    """``count`` valid training frames spread evenly over [0, train_end), the first valid one first."""
    ok = np.flatnonzero(np.asarray(valid[:train_end], bool))
    if len(ok) == 0:
        raise InputError("no tracked face in the training part of the clip")
    picks = ok[np.round(np.linspace(0, len(ok) - 1, min(count, len(ok)) + 1)[:-1]).astype(int)]
    return [int(i) for i in dict.fromkeys(picks)]


def reference_of(frame: int, references: list[int]) -> int:
    """The reference picture frame ``frame`` is drawn into (runs of REFERENCE_RUN frames share one)."""
    return references[(frame // REFERENCE_RUN) % len(references)]


def _key(target: Target, size: int, hybrid: bool, warp: WarpSettings, region: str) -> str:
    st = os.stat(target.video) if os.path.isfile(target.video) else None
    ident = dict(version=DATA_VERSION, video=os.path.abspath(target.video), frames=target.num_frames,
                 mtime=st.st_mtime_ns if st else None, bytes=st.st_size if st else None,
                 model=target.model.name, size=size, hybrid=hybrid, warp=repr(warp), region=region,
                 fit=hashlib.sha256(np.ascontiguousarray(target.face.seq.expression).tobytes()).hexdigest())
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def prepare_clip(target: Target, size: int, hybrid: bool, folder: str | Path | None = None,
                 warp: WarpSettings | None = None, region: str = "head", progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> ClipData:
    """Crop, condition and (hybrid) warp every frame of ``target`` at ``size`` x ``size`` in the
    fixed box of ``region`` ("head" or "mouth", ``core.neural.conditioning.region_box``).

    folder : where the arrays are kept (``folder/data``) and found again on a resume; None keeps
        them in memory only.
    """
    from core.reenact.pipeline import read_frames
    from core.video import open_source

    warp = warp or WarpSettings()
    model, face = target.model, target.face
    N = target.num_frames
    data_dir = Path(folder) / "data" if folder is not None else None
    key = _key(target, size, hybrid, warp, region)
    if data_dir is not None:
        cached = _load_cached(data_dir, key)
        if cached is not None:
            return cached
    valid = np.asarray(face.track.valid[:N], bool)
    train_end = split(N)
    # the box from the training frames alone: nothing of the held-out part is used
    box = region_box(region, face.track.landmarks[:train_end], valid[:train_end], size)
    refs = reference_frames(valid, train_end)
    cond_maker = Conditioner(model)
    renderer = WarpRenderer(model, warp) if hybrid else None
    arrays = _allocate(data_dir, N, size)
    ref_faces = {r: face.target(model, r) for r in refs}
    with open_source(target.video) as src:  # exact random access: a frame's base needs its reference
        ref_images = {r: src.read(r) for r in refs}
    mouth = np.zeros((N, 2), np.float32)
    done = 0
    for t, frame in enumerate(read_frames(target.video, N)):
        check(cancel)
        driven = face.driven(model, t, face.seq.frame(t))
        arrays["real"][t] = box.crop(frame)
        arrays["cond"][t] = cond_maker.condition(driven, box)
        mouth[t] = mouth_centre(driven, box)
        r = reference_of(t, refs)
        if hybrid:
            out = renderer.render(FrameRequest(ref_images[r], ref_faces[r], driven, ("reference", r))).image
            arrays["base"][t] = box.crop(out)
        else:
            arrays["base"][t] = box.crop(ref_images[r])
        done = t + 1
        report(progress, done, N, f"preparing frames {done}/{N}")
    if done != N:
        raise InputError(f"{target.video}: {done} frames could be read, the fit has {N}")
    data = ClipData(box, arrays["real"], arrays["cond"], arrays["base"], mouth, valid, train_end, refs, hybrid,
                    target.fps)
    if data_dir is not None:
        for a in arrays.values():
            a.flush()
        np.save(data_dir / "mouth.npy", mouth)
        np.save(data_dir / "valid.npy", valid)
        write_text_atomic(data_dir / "data.json", json.dumps(dict(
            key=key, box=box.to_dict(), train_end=train_end, references=refs, hybrid=hybrid, fps=target.fps,
            frames=N)))
    return data


def _allocate(data_dir: Path | None, N: int, S: int) -> dict[str, np.ndarray]:
    shapes = dict(real=(N, S, S, 3), cond=(N, S, S, 6), base=(N, S, S, 3))
    if data_dir is None:
        return {k: np.zeros(s, np.uint8) for k, s in shapes.items()}
    data_dir.mkdir(parents=True, exist_ok=True)
    stale = data_dir / "data.json"
    if stale.exists():
        stale.unlink()  # the arrays below are being replaced
    return {k: np.lib.format.open_memmap(data_dir / f"{k}.npy", "w+", np.uint8, s) for k, s in shapes.items()}


def _load_cached(data_dir: Path, key: str) -> ClipData | None:
    meta_path = data_dir / "data.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            return None
        arrs = {k: np.load(data_dir / f"{k}.npy", mmap_mode="r") for k in ("real", "cond", "base")}
        mouth, valid = np.load(data_dir / "mouth.npy"), np.load(data_dir / "valid.npy")
    except (OSError, ValueError, KeyError):
        return None  # damaged: prepared again
    N = int(meta["frames"])
    if any(len(a) != N for a in arrs.values()) or len(mouth) != N or len(valid) != N:
        return None
    return ClipData(CropBox.from_dict(meta["box"]), arrs["real"], arrs["cond"], arrs["base"], mouth, valid,
                    int(meta["train_end"]), list(meta["references"]), bool(meta["hybrid"]), float(meta["fps"]))
