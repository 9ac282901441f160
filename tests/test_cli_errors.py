"""One error policy for every command: a failure that is the user's situation (an output on a
read-only or full file system, too little memory, a damaged file) is one ``error:`` line naming
the file and the cause, exit code 2; cleanup never hides the first error; a bug is a traceback
and exit code 1. Plus the input rules (projects, FIFOs, cameras, stills given to ``flow``),
the output-folder rule and the several-faces note.

The read-only and full-disk runs use real tmpfs mounts in a private mount namespace
(``unshare -m``: they exist only for that process); without it they are skipped, and the
injected-error tests below still cover the policy.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main as app_main
from conftest import REPO, shared_path
from core.errors import OutputError, user_message

FRAMES = 8


@pytest.fixture(scope="module")
def still() -> Path:
    return shared_path("data", "portraits", "stills", "d9.jpg")


@pytest.fixture(scope="module")
def clip_fit(tmp_path_factory):
    """(clip.mp4, track.npz, rec.npz): FRAMES frames of d6 with its audio, tracked and fitted."""
    from core.fitting import reconstruct
    from core.model.registry import load_model
    from core.tracking import track_video
    from core.video import VideoWriter, open_source

    d6 = shared_path("data", "videos", "d6.mp4")
    d = tmp_path_factory.mktemp("clip")
    with open_source(str(d6)) as src, VideoWriter(d / "clip.mp4", fps=src.fps, audio_from=d6) as w:
        for _, frame in src.frames(0, FRAMES):
            w.write(frame)
    tr = track_video(str(d / "clip.mp4"))
    reconstruct(tr, load_model("builtin"), "builtin").save(d / "rec.npz")
    tr.save(d / "track.npz")
    return d / "clip.mp4", d / "track.npz", d / "rec.npz"


def _namespace_works() -> bool:
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt"],
                       capture_output=True)
    return r.returncode == 0


def test_outputs_on_read_only_and_full_file_systems(tmp_path, still, clip_fit):
    """Every command's outputs on a read-only tmpfs (RO) and on a full one (FULL): exit code 2,
    one error line naming the output and the cause, nothing left behind. Before: a traceback
    (Errno 30 / 28, exit 1) from track, reconstruct, flow --npz, --export-meshes, and for render,
    flow and reenact the real error hidden by the writer's cleanup raising Errno 30."""
    if not _namespace_works():
        pytest.skip("no private mount namespace here (unshare -m as root); the injected-error tests cover this")
    clip, track, rec = (str(p) for p in clip_fit)
    ro, full, ok = tmp_path / "ro", tmp_path / "full", tmp_path / "ok"
    for d in (ro, full, ok):
        d.mkdir()
    cases, expect = [], []
    for d, cause in ((ro, "read-only"), (full, "no space left")):
        cases += [
            ["track", str(still), "-o", f"{d}/t.npz"],
            ["reconstruct", track, "-o", f"{d}/sub/r.npz"],
            ["reconstruct", track, "-o", f"{ok}/r.npz", "--export-meshes", f"{d}/meshes"],
            ["flow", clip, "--reconstruction", rec, "-o", f"{ok}/f.mp4", "--npz", f"{d}/f.npz"],
            ["render", clip, "--reconstruction", rec, "--mode", "nmfc", "-o", f"{d}/r.mp4"],
        ]
        expect += [(d, cause)] * 5
    cases += [["flow", clip, "--reconstruction", rec, "-o", f"{full}/f.mp4"],
              ["reenact", "--source", clip, "--target", str(still), "-o", f"{full}/re.mp4", "--max-frames", "3"],
              ["reenact", "--source", clip, "--target", str(still), "-o", f"{ro}/re.mp4", "--max-frames", "3"]]
    expect += [(full, "no space left"), (full, "no space left"), (ro, "read-only")]
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(dict(cases=cases, watch=[str(ro), str(full)])))
    script = (f"mount -t tmpfs -o size=1m tmpfs {ro} && mount -o remount,ro {ro} && "
              f"mount -t tmpfs -o size=1m tmpfs {full} && (dd if=/dev/zero of={full}/fill bs=4k 2>/dev/null; true) && "
              f"exec {sys.executable} {REPO / 'tests' / 'cli_driver.py'} {spec}")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    for res, (d, cause) in zip(results, expect):
        what = " ".join(res["argv"][:2])
        err = res["stderr"].strip().splitlines()
        assert res["rc"] == 2, f"{what}: rc {res['rc']}\n{res['stderr'][-2000:]}"
        assert "Traceback" not in res["stderr"], f"{what}:\n{res['stderr'][-2000:]}"
        assert err[-1].startswith(f"error: {d}/") and cause in err[-1].lower(), f"{what}: {err[-1]}"
        assert res["left"] == {str(ro): [], str(full): ["fill"]}, f"{what} left {res['left']}"


# -- injected errors (always run) ------------------------------------------------------------
def _run(argv, capsys) -> tuple[int, str]:
    rc = app_main.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def test_a_read_only_folder_is_one_error_line(tmp_path, still, monkeypatch, capsys):
    import tempfile

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", k.get("dir"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    rc, err = _run(["track", still, "-o", tmp_path / "t.npz"], capsys)
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"error: {tmp_path / 't.npz'}: cannot write: the file system is "
                                            "read-only; write to another folder (Read-only file system)")


@pytest.mark.parametrize("exc,rc,text", [
    (MemoryError(), 2, "not enough memory to process it"),
    (ValueError("cannot reshape array of size 7"), 2, "cannot be processed: the file is damaged or not what it "
                                                      "claims to be (ValueError: cannot reshape array of size 7)"),
    (OSError(errno.EIO, "Input/output error"), 2, "input/output error (a failing disk"),
    (RecursionError("maximum recursion depth exceeded"), 2, "nested too deeply"),
    (ZeroDivisionError("division by zero"), 1, "internal error (ZeroDivisionError: division by zero); this is a bug"),
])
def test_the_error_policy(tmp_path, still, monkeypatch, capsys, exc, rc, text):
    import core.tracking

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(core.tracking, "track_video", fail)
    code, err = _run(["track", still, "-o", tmp_path / "t.npz"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == rc and last.startswith(f"error: {still}: ") and text in last, err
    assert ("Traceback" in err) == (rc == 1)  # a bug shows where; the user's situation does not


def test_user_message_names_the_file_of_an_os_error():
    e = OSError(errno.ENOSPC, "No space left on device", "/data/out.npz")
    assert user_message(e, "in.mp4") == ("/data/out.npz: no space left on the device; free some space or write "
                                         "to another disk (No space left on device)")


def test_cleanup_never_hides_the_first_error(tmp_path, monkeypatch):
    """The writer's cleanup on a read-only file system raised its own OSError (Errno 30) over the
    encoder's failure."""
    from core.video import VideoWriter

    w = VideoWriter(tmp_path / "v.mp4", fps=25)
    w.write(np.zeros((32, 32, 3), np.uint8))
    w._proc.kill()  # ffmpeg dies (as when its output cannot be written)
    w._proc.wait()
    real_unlink = os.unlink

    def read_only_unlink(path, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "unlink", read_only_unlink)
    with pytest.raises(Exception) as e:
        for _ in range(200):  # until the pipe to the dead ffmpeg breaks
            w.write(np.zeros((32, 32, 3), np.uint8))
        w.close()
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert "writing the video failed" in str(e.value) or "encoding the video failed" in str(e.value), repr(e.value)
    assert not isinstance(e.value, OSError)


def test_a_full_disk_mid_video_is_an_output_error(tmp_path):
    from core.video.writer import VideoWriter

    w = VideoWriter(tmp_path / "v.mp4", fps=25)
    err = w._failure("encoding the video failed", "Error writing trailer: No space left on device")
    assert isinstance(err, OutputError) and str(err).startswith(f"{tmp_path / 'v.mp4'}: encoding")
    w.abort()
    assert os.listdir(tmp_path) == []


# -- inputs and outputs -------------------------------------------------------------------------
def test_fifo_camera_and_still_flow_are_named_at_once(tmp_path, still, monkeypatch, capsys):
    import core.tracking

    def no_tracking(*a, **k):
        raise AssertionError("tracked although the input was refusable at once")

    monkeypatch.setattr(core.tracking, "track_video", no_tracking)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    rc, err = _run(["track", fifo, "-o", tmp_path / "t.npz"], capsys)
    assert rc == 2 and f"error: {fifo}: is a FIFO (named pipe)" in err  # was "file not found"
    rc, err = _run(["reconstruct", "webcam:7", "-o", tmp_path / "r.npz"], capsys)
    assert rc == 2 and "error: webcam:7: a live camera cannot be the input" in err  # was "input not found"
    rc, err = _run(["flow", still, "-o", tmp_path / "f.mp4"], capsys)  # was refused after tracking + fitting
    assert rc == 2 and "needs more than 1 frames, but a still image" in err
    assert not (tmp_path / "f.mp4").exists() and sorted(os.listdir(tmp_path)) == ["pipe.mp4"]


def test_a_project_folder_stands_for_its_source(tmp_path, clip_fit, capsys):
    from app.commands import offline_input
    from core.errors import InputError
    from core.fitting import Reconstruction
    from core.project import Project, save_project
    from core.tracking.result import TrackResult

    clip, track, rec = clip_fit
    p = tmp_path / "p.fsproj"
    save_project(p, Project(source=str(clip), model_spec="builtin", reconstruction=Reconstruction.load(rec),
                            track=TrackResult.load(track)))
    got = offline_input(str(p))
    assert got.path == clip and got.project == p
    assert f"{p}: project folder: using its source {clip}" in capsys.readouterr().err
    with pytest.raises(InputError, match="is a FaceStudio project folder, which this command does not take"):
        offline_input(str(p), allow_project=False)
    from core.video import open_source  # the GUI's open: named, not "the folder contains no images"
    with pytest.raises(InputError, match="is a FaceStudio project folder, not a clip"):
        open_source(str(p))


def test_missing_output_folders_are_created_and_several_faces_are_named(tmp_path, capsys):
    img = shared_path("data", "portraits", "multi_face", "test1.jpg")
    out = tmp_path / "new" / "deeper" / "t.npz"
    old = os.umask(0o022)
    try:
        rc, err = _run(["track", img, "-o", out], capsys)
    finally:
        os.umask(old)
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # 0600 before
    assert "several faces in 1 frame(s) (up to 2); the largest face is followed" in err
    assert int(np.load(out)["n_faces"][0]) == 2


# -- signals ------------------------------------------------------------------------------------
def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of a process's children."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for c in (task / "children").read_text().split():
            try:
                out.append((int(c), Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                pass
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_during_an_export_leaves_nothing(tmp_path, clip_fit, sig, code):
    """SIGTERM during an export left .NAME.PID.partial.mp4 and an ffmpeg that kept running."""
    import signal
    import time

    from core.fitting import Reconstruction
    from core.video import VideoWriter, open_source

    clip, _track, rec = clip_fit
    n = 20 * FRAMES  # long enough to be caught in the middle
    with open_source(str(clip)) as src:
        frames = [f for _, f in src.frames()]
    with VideoWriter(tmp_path / "long.mp4", fps=25) as w:
        for i in range(n):
            w.write(frames[i % FRAMES])
    r = Reconstruction.load(rec)
    for k in ("expression", "rotation", "translation", "scale", "landmarks68", "fit_error_px", "valid", "segment",
              "repeated"):
        setattr(r, k, np.concatenate([getattr(r, k)] * 20))
    r.corrective = None if r.corrective is None else np.concatenate([r.corrective] * 20)
    r.save(tmp_path / "long.npz")
    out = tmp_path / "out" / "render.mp4"
    p = subprocess.Popen([sys.executable, str(REPO / "main.py"), "render", str(tmp_path / "long.mp4"),
                          "--reconstruction", str(tmp_path / "long.npz"), "--mode", "nmfc", "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         # a test run started in the background inherits SIGINT ignored: the command
                         # gets the default a terminal gives it
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    encoder = None
    while encoder is None and p.poll() is None and time.monotonic() < deadline:
        encoder = next((c for c, cmd in _children(p.pid) if "ffmpeg" in cmd and "rawvideo" in cmd), None)
        time.sleep(0.05)
    assert encoder is not None, p.communicate()[1][-2000:]
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert not _running(encoder), "the encoder (ffmpeg) outlived the command"
    assert os.listdir(out.parent) == [], os.listdir(out.parent)  # no .render.PID.N.partial.mp4


def test_a_faststart_mp4_cut_in_half_is_reported_truncated(tmp_path, capfd):
    """Before: exit 0 on half the frames, nothing said, the demuxer's 'partial file' lines on stderr."""
    from core.video import VideoWriter, open_source

    d6 = shared_path("data", "videos", "d6.mp4")
    n = 48
    with open_source(str(d6)) as src, VideoWriter(tmp_path / "clip.mp4", fps=src.fps, audio_from=d6) as w:
        for _, frame in src.frames(0, n):
            w.write(frame)
    data = (tmp_path / "clip.mp4").read_bytes()
    assert data[4:8] == b"ftyp" and b"moov" in data[:4096]  # the index at the front (faststart)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    rc = app_main.main(["track", str(cut), "-o", str(tmp_path / "t.npz")])
    err = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and not (tmp_path / "t.npz").exists()
    assert len(err) == 1 and "first " in err[0], err
    assert err == [f"error: {cut}: the file is truncated: only the first {err[0].split('first ')[1].split()[0]} of "
                   f"the {n} frames it announces can be decoded (an interrupted download or copy); "
                   "get the complete file"], err


def test_shaded_render_draws_no_mesh_where_there_is_no_face(tmp_path, clip_fit):
    """Frames 3-5 have no face (valid False: their fit is borrowed from a neighbour): before, the
    grey mesh was drawn on them anyway."""
    from core.fitting import Reconstruction
    from core.model.registry import load_model
    from core.qa.clip import ClipMeshes
    from core.qa.render_video import write_render_video
    from core.render import RenderThread
    from core.video import open_source, read_clip

    clip, _track, rec_path = clip_fit
    rec = Reconstruction.load(rec_path)
    rec.valid[3:6] = False
    out = tmp_path / "shaded.mp4"
    with open_source(str(clip)) as src, RenderThread() as rt:
        write_render_video(src, ClipMeshes(rec, load_model("builtin")), out, FRAMES, "shaded", alpha=1.0,
                           renderer=rt)
    frames, _ = read_clip(str(out))
    H = frames[0].shape[0]
    drawn = [float((f[: H - 30] > 40).mean()) for f in frames]  # above the "no face" label
    assert all(d > 0.05 for d in drawn[:3] + drawn[6:]), drawn   # the mesh alone on black
    assert all(d == 0.0 for d in drawn[3:6]), drawn


def test_the_gui_shows_the_same_message(monkeypatch):
    """app.error_reporting.show_exception: the GUI's dialog for any exception (Save, Open,
    exports) uses the command line's message; a bug also gets its traceback as details."""
    pytest.importorskip("PySide6")
    import app.error_reporting as er

    shown = []
    monkeypatch.setattr(er, "show_error", lambda parent, title, message, details="": shown.append(
        (title, message, details)))
    e = OSError(errno.EROFS, "Read-only file system", "/media/cd/p.fsproj/project.json")
    assert er.show_exception(None, "Cannot save project", e) == user_message(e)
    assert shown[-1] == ("Cannot save project", user_message(e), "")
    try:
        int("x") + None  # noqa: B018 (a bug: ValueError is a data error, TypeError is not)
    except ValueError as bad_data:
        er.show_exception(None, "Open", bad_data, "clip.mp4")
        assert shown[-1][1].startswith("clip.mp4: cannot be processed") and shown[-1][2] == ""
    try:
        None + 1  # noqa: B018
    except TypeError as bug:
        er.show_exception(None, "Save", bug, "p.fsproj")
    assert "this is a bug" in shown[-1][1] and "Traceback" in shown[-1][2]


def test_a_gui_job_fails_with_the_same_message(qtbot, monkeypatch):
    """app.jobs.Job (Save, Open, exports...): a full disk is its one-line message, not 'failed
    unexpectedly: OSError'."""
    pytest.importorskip("PySide6")
    from app.jobs import Job

    def full(path, progress=None, cancel=None):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(Job, "synchronous", True)
    job = Job(full, "/data/p.fsproj/track-2-abcdef12.npz", name="Saving project")
    job.start()
    assert job.outcome == "failed"
    assert job.error == ("/data/p.fsproj/track-2-abcdef12.npz: no space left on the device; free some space "
                         "or write to another disk (No space left on device)")
