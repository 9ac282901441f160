"""End-to-end tests of ``main.py flow`` and ``main.py render`` on short real clips.

The commands run in subprocesses (exit codes and stderr as a user sees them; the EGL
renderer then lives in a process without Qt). A 20-frame reconstruction of d6.mp4 is
made once per module with the built-in model.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, shared_path
from core.flow.evaluate import compare_flows, dis_flow
from core.video import VideoWriter, open_source, probe

FRAMES = 20


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def d6() -> Path:
    return shared_path("data", "videos", "d6.mp4")


@pytest.fixture(scope="module")
def fitted(d6, tmp_path_factory):
    """(track.npz, reconstruction.npz) of the first FRAMES frames of d6, built-in model."""
    from core.fitting import reconstruct
    from core.model.registry import load_model
    from core.tracking import track_video

    d = tmp_path_factory.mktemp("fit")
    tr = track_video(str(d6), max_frames=FRAMES)
    rec = reconstruct(tr, load_model("builtin"), "builtin")
    tr.save(d / "track.npz")
    rec.save(d / "rec.npz")
    return d / "track.npz", d / "rec.npz"


@pytest.fixture(scope="module")
def d6_20(d6, tmp_path_factory) -> Path:
    """The first FRAMES frames of d6 as a clip of their own, audio kept: the source of the test
    projects (a project's arrays cover their source clip frame for frame)."""
    path = tmp_path_factory.mktemp("clip20") / "d6_20.mp4"
    with open_source(str(d6)) as src, VideoWriter(path, fps=src.fps, audio_from=d6) as w:
        for _, frame in src.frames(0, FRAMES):
            w.write(frame)
    return path


def still_clip(d6: Path, path: Path, frames: int) -> Path:
    """A clip of frame 0 of d6 repeated (a still face; no audio)."""
    with open_source(str(d6)) as src:
        frame = src.read(0)
    with VideoWriter(path, fps=30.0) as w:
        for _ in range(frames):
            w.write(frame)
    return path


def test_flow_end_to_end_tracks_fits_and_writes_video_and_arrays(d6, tmp_path):
    out, npz = tmp_path / "flow.mp4", tmp_path / "flow.npz"
    r = run_cli("flow", str(d6), "-o", str(out), "--max-frames", str(FRAMES), "--npz", str(npz))
    assert r.returncode == 0, r.stderr
    assert "fitted now" in r.stdout
    info = probe(out)
    assert info["frame_count"] == FRAMES - 1           # flow t -> t+1 needs frame t+1
    assert (info["width"], info["height"]) == (4 * 480, 480)
    assert info["has_audio"]
    z = np.load(npz)
    assert z["flow"].shape == (FRAMES - 1, 480, 480, 3) and z["flow"].dtype == np.float16
    assert z["mask"].shape == (FRAMES - 1, 480, 480) and z["mask"].dtype == bool
    assert int(z["stride"]) == 1 and int(z["step"]) == 1
    flow, mask = z["flow"].astype(np.float32), z["mask"]
    assert 0.15 < mask.mean() < 0.5                     # the face covers part of the frame
    assert np.all(flow[~mask] == 0)
    mag = np.linalg.norm(flow[mask][:, :2], axis=1)
    # a talking head at 30 fps: sub-pixel to a few pixels per frame, not all still; d6's brows
    # jump ~20 px between frames 5 and 6 (DIS agrees), so the bound on the largest is loose
    assert 0.02 < float(np.median(mag)) < 3.0 and float(mag.max()) < 40.0
    # the image's own evidence: the mesh flow agrees with DIS optical flow on the face (median
    # end-point difference ~0.1 px here) and explains the next frame far better than no motion
    with open_source(str(d6)) as src:
        frames = [src.read(i) for i in range(FRAMES)]
    epe, err_mesh, err_zero = [], [], []
    for t in range(FRAMES - 1):
        dis = dis_flow(frames[t], frames[t + 1])
        epe.append(np.median(np.linalg.norm(flow[t][..., :2] - dis, axis=-1)[mask[t]]))
        e = compare_flows(frames[t], frames[t + 1], {"mesh": flow[t][..., :2], "zero": np.zeros_like(dis)}, mask[t])
        err_mesh.append(e["mesh"].mae)
        err_zero.append(e["zero"].mae)
    assert float(np.median(epe)) < 0.5 and max(epe) < 1.5, epe
    assert float(np.median(err_mesh)) < 0.7 * float(np.median(err_zero)), (err_mesh, err_zero)
    # the panels: frame | mesh overlay | 3D flow | 2D flow
    with open_source(str(out)) as v, open_source(str(d6)) as src:
        f5, s5 = v.read(5).astype(int), src.read(5).astype(int)
    assert np.abs(f5[:, :480] - s5).mean() < 6          # left panel is the frame (codec noise only)
    assert np.abs(f5[:, 480:960] - s5).mean() > 2       # the mesh is drawn over it
    face = mask[5]
    assert f5[:, 1440:][face].mean() > 150              # 2D wheel: near white for small motion
    assert f5[:, 1440:][~face].mean() < 60               # black background


def test_flow_step_and_reconstruction_reuse(d6, fitted, tmp_path):
    _, rec = fitted
    out, npz = tmp_path / "flow3.mp4", tmp_path / "flow3.npz"
    r = run_cli("flow", str(d6), "-o", str(out), "--reconstruction", str(rec), "--max-frames", str(FRAMES),
                "--step", "3", "--npz", str(npz))
    assert r.returncode == 0, r.stderr
    assert "fitted now" not in r.stdout
    assert probe(out)["frame_count"] == FRAMES - 3
    z = np.load(npz)
    assert z["flow"].shape[0] == FRAMES - 3 and int(z["step"]) == 3


def test_flow_colours_per_clip_by_default_or_per_frame(d6, fitted, tmp_path):
    """The default normalisation is one per clip (colours compare across frames); ``--normalise
    frame`` scales each frame by its own flow's 99th percentile: a frame slower than the clip's
    is drawn brighter, a faster one darker."""
    _, rec = fitted
    panels = {}
    for how in ("clip", "frame"):
        out, npz = tmp_path / f"flow_{how}.mp4", tmp_path / f"flow_{how}.npz"
        r = run_cli("flow", str(d6), "-o", str(out), "--reconstruction", str(rec), "--max-frames", "8",
                    "--normalise", how, "--npz", str(npz))
        assert r.returncode == 0, r.stderr
        assert ("per frame" in r.stdout) == (how == "frame")
        with open_source(str(out)) as src:
            # the 3D panel's brightness (HSV value) over the face (the centre: legends are at the edges)
            panels[how] = np.stack([f[120:360, 960 + 120:960 + 360].max(2) for _, f in src.frames()])
    z = np.load(tmp_path / "flow_clip.npz")
    r_clip = float(z["max_magnitude_3d"])
    r_frame = np.array([np.percentile(np.linalg.norm(f.astype(np.float32)[m], axis=1), 99)
                        for f, m in zip(z["flow"], z["mask"])])
    clip, frame = (panels[h].reshape(len(panels[h]), -1).astype(np.float64) for h in ("clip", "frame"))
    lit = clip > 8  # the face's moving pixels (off the face the panel is black either way)
    b_clip = np.array([c[m].mean() for c, m in zip(clip, lit)])
    b_frame = np.array([f[m].mean() for f, m in zip(frame, lit)])
    clear = np.abs(r_frame / r_clip - 1) > 0.05  # frames clearly slower or faster than the clip
    assert clear.sum() >= 2, r_frame / r_clip
    np.testing.assert_array_equal(np.sign(b_frame - b_clip)[clear], np.sign(r_clip - r_frame)[clear])


def test_flow_of_a_still_face_is_near_zero(d6, tmp_path):
    clip = still_clip(d6, tmp_path / "still.mp4", 12)
    out, npz = tmp_path / "still_flow.mp4", tmp_path / "still.npz"
    r = run_cli("flow", str(clip), "-o", str(out), "--npz", str(npz))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["frame_count"] == 11 and not info["has_audio"]
    z = np.load(npz)
    mask = z["mask"]
    assert mask.mean() > 0.15
    mag = np.linalg.norm(z["flow"].astype(np.float32)[mask], axis=1)
    assert float(np.percentile(mag, 99)) < 0.05, np.percentile(mag, [50, 99, 100])


@pytest.mark.parametrize("mode", ["overlay", "shaded", "nmfc", "pncc", "textured"])
def test_render_modes(d6, fitted, tmp_path, mode):
    track, rec = fitted
    n = 8
    out = tmp_path / f"{mode}.mp4"
    r = run_cli("render", str(d6), "--mode", mode, "-o", str(out), "--reconstruction", str(rec),
                "--track", str(track), "--max-frames", str(n))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["frame_count"] == n and (info["width"], info["height"]) == (480, 480)
    assert info["has_audio"]
    with open_source(str(out)) as v, open_source(str(d6)) as src:
        img, frame = v.read(4).astype(int), src.read(4).astype(int)
    centre = img[200:300, 190:290]       # nose and cheeks of d6 in the first frames
    if mode in ("nmfc", "pncc"):
        assert img[:20, :20].max() < 30                 # black background
        assert centre.mean() > 60 and centre.std(axis=(0, 1)).max() > 5   # a colour ramp
    elif mode == "textured":
        # the first frame's face carried to frame 4: close to the real frame 4
        assert np.abs(img - frame)[200:300, 190:290].mean() < 12
    else:
        assert np.abs(img - frame)[200:300, 190:290].mean() > 5      # something drawn on the face
        assert np.abs(img - frame)[:40, :40].mean() < 6 if mode == "shaded" else True


def test_render_tracks_for_overlay_when_no_track_given(d6, fitted, tmp_path):
    _, rec = fitted
    out = tmp_path / "ov.mp4"
    r = run_cli("render", str(d6), "--mode", "overlay", "-o", str(out), "--reconstruction", str(rec),
                "--max-frames", "6")
    assert r.returncode == 0, r.stderr
    assert probe(out)["frame_count"] == 6
    assert "error colour scale" in r.stdout


def _assert_user_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_inputs_exit_code_2(d6, fitted, tmp_path):
    _, rec = fitted
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    _assert_user_error(run_cli("flow", str(d6), "-o", str(tmp_path / "a.mp4"), "--reconstruction", str(bad)),
                       "corrupt.npz")
    # a 20-frame reconstruction against the whole 1008-frame video
    _assert_user_error(run_cli("render", str(d6), "--mode", "nmfc", "-o", str(tmp_path / "b.mp4"),
                               "--reconstruction", str(rec)), "rec.npz", "20 frames", "--max-frames 20")
    # d9 is 512x480, the reconstruction was made on d6 (480x480)
    d9 = shared_path("data", "videos", "d9.mp4")
    _assert_user_error(run_cli("flow", str(d9), "-o", str(tmp_path / "c.mp4"), "--reconstruction", str(rec),
                               "--max-frames", "10"), "d9.mp4", "480x480")
    _assert_user_error(run_cli("render", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "d.mp4")),
                       "missing.mp4", "not found")
    assert not any(tmp_path.glob("[abcd].mp4"))


def test_no_face_exit_code_2(tmp_path):
    clip = tmp_path / "noface.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(clip, fps=30.0) as w:
        for _ in range(6):
            w.write(np.clip(rng.normal(120, 30, (240, 320, 3)), 0, 255).astype(np.uint8))
    _assert_user_error(run_cli("flow", str(clip), "-o", str(tmp_path / "o.mp4")), "noface.mp4", "no face")
    assert not (tmp_path / "o.mp4").exists()


def test_render_a_project_folder(d6, d6_20, fitted, tmp_path):
    from core.fitting import Reconstruction
    from core.project import Project, save_project
    from core.tracking import TrackResult

    track, rec = fitted
    proj = tmp_path / "clip.fsproj"
    save_project(proj, Project(source=str(d6_20), model_spec="builtin", reconstruction=Reconstruction.load(rec),
                               track=TrackResult.load(track)))
    out = tmp_path / "proj.mp4"
    r = run_cli("render", str(proj), "--mode", "overlay", "-o", str(out), "--max-frames", "5")
    assert r.returncode == 0, r.stderr
    assert probe(out)["frame_count"] == 5
    # arrays of 20 frames for a 1008-frame source: the project is refused with a clear error
    save_project(proj, Project(source=str(d6), model_spec="builtin", reconstruction=Reconstruction.load(rec),
                               track=TrackResult.load(track)))
    _assert_user_error(run_cli("render", str(proj), "--mode", "overlay", "-o", str(tmp_path / "all.mp4")),
                       "20 frames")


def test_render_a_projects_edits(d6_20, fitted, tmp_path):
    """A project's default render is its edited clip, the same export as the GUI's."""
    from core.edits.curves import ExpressionEdits
    from core.fitting import Reconstruction
    from core.project import Project, save_project

    track, rec = fitted
    edits = ExpressionEdits()
    edits.set_key("jawOpen", 0, 0.6)  # one key = a constant offset over the clip
    proj = tmp_path / "edited.fsproj"
    save_project(proj, Project(source=str(d6_20), model_spec="builtin", reconstruction=Reconstruction.load(rec),
                               edits={"expression": edits.to_dict()}))
    out = tmp_path / "edited.mp4"
    r = run_cli("render", str(proj), "-o", str(out))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["frame_count"] == 20 and info["has_audio"]
    with open_source(str(out)) as o, open_source(str(d6_20)) as src:
        a = o.read(10).astype(np.int16)
        b = src.read(10).astype(np.int16)
    diff = np.abs(a - b).max(axis=2)
    lm = Reconstruction.load(rec).landmarks68[10]
    x0, y0 = lm.min(axis=0).astype(int) - 40
    x1, y1 = lm.max(axis=0).astype(int) + 40
    mouth = lm[48:68]
    mx0, my0 = mouth.min(axis=0).astype(int)
    mx1, my1 = mouth.max(axis=0).astype(int)
    assert diff[my0:my1 + 1, mx0:mx1 + 1].mean() > 10  # the mouth opened
    outside = np.ones_like(diff, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert np.percentile(diff[outside], 99) <= 12  # far from the face: codec noise only
