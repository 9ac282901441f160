"""main.py batch: many clips on Dask (core/batch, app/commands/batch.py).

The clips are a few frames long (cut from the shared videos, or --max-frames), so each costs
seconds. Two clusters are used: the command's own LocalCluster (2 worker processes), and a real
`dask scheduler` with two `dask worker` processes started as separate commands on loopback
(the --scheduler path: resume, a killed worker). No test looks at the clock.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import IN_CI, REPO, shared_path

FRAMES = 6


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def short_clip(src: Path, path: Path, frames: int = FRAMES) -> Path:
    """The first ``frames`` frames of ``src`` as a clip of its own (whole clips make projects)."""
    from core.video import VideoWriter, open_source

    path.parent.mkdir(parents=True, exist_ok=True)
    with open_source(str(src)) as s, VideoWriter(path, fps=s.fps) as w:
        for _, img in s.frames(0, frames):
            w.write(img)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two short clips both named face.mp4 in different folders, a third one, and a corrupt .mp4."""
    videos = shared_path("data", "videos")
    d = tmp_path_factory.mktemp("clips")
    out = dict(a=short_clip(videos / "d18.mp4", d / "a" / "face.mp4"),
               b=short_clip(videos / "d19.mp4", d / "b" / "face.mp4"),
               c=short_clip(videos / "d20.mp4", d / "c" / "talk.mp4"))
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(20000))
    out["corrupt"] = corrupt
    return out


def records(outdir: Path) -> dict[str, dict]:
    """clip id -> metrics.json of every clip folder in a batch folder."""
    return {p.parent.name: json.loads(p.read_text()) for p in outdir.glob("*/metrics.json")}


def assert_complete(outdir: Path, rec: dict) -> None:
    from core.batch.record import incomplete_reason

    assert rec["status"] == "done", rec
    assert incomplete_reason(outdir / rec["clip_id"], rec, rec["request"], rec["input"]["path"]) is None
    assert rec["outputs"], rec


# ---------------------------------------------------------------------------------------------
# the command's LocalCluster: 2 workers, 3 clips, one corrupt

@pytest.fixture(scope="module")
def local_run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    r = run_cli("batch", str(clips["a"]), str(clips["b"]), str(clips["corrupt"]), "-o", str(out), "--workers", "2",
                "--max-frames", "4", "--steps", "render", "--dashboard", "127.0.0.1:0")
    return out, r


def test_local_cluster_two_workers_one_corrupt_clip(local_run, clips):
    out, r = local_run
    assert r.returncode == 3, r.stderr  # finished, some clips failed
    assert "LocalCluster: 2 worker processes x 1 thread" in r.stderr
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/status", r.stderr), r.stderr
    recs = records(out)
    assert len(recs) == 3
    failed = next(v for v in recs.values() if v["input"]["path"] == str(clips["corrupt"]))
    assert failed["status"] == "failed" and str(clips["corrupt"]) in failed["error"], failed
    done = [v for v in recs.values() if v["status"] == "done"]
    assert len(done) == 2
    for rec in done:
        assert_complete(out, rec)
        assert rec["frames"] == 4 and rec["source_frames"] == FRAMES
        # cut short by --max-frames: the arrays, not a project; the overlay QA video (--steps render)
        assert {"reconstruction.npz", "track.npz", "thumbnail.jpg", "overlay.mp4"} <= set(rec["outputs"])
        assert rec["request"]["steps"] == ["track", "reconstruct", "render"]
        assert 0 <= rec["worst_frame"] < 4 and rec["tracked_pct"] == 100.0
    # the report lists all three, with their status
    with open(out / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["clip_id"], r["status"]) for r in rows) == sorted((k, v["status"]) for k, v in recs.items())
    assert next(r["error"] for r in rows if r["status"] == "failed") == failed["error"]
    index = json.loads((out / "batch.json").read_text())
    assert index["state"] == "finished" and index["counts"]["done"] == 2 and index["counts"]["failed"] == 1


def test_same_named_clips_in_different_folders_keep_both_results(local_run, clips):
    from core.batch.inputs import collect_clips

    out, _ = local_run
    recs = records(out)
    faces = {v["input"]["path"]: k for k, v in recs.items() if Path(v["input"]["path"]).name == "face.mp4"}
    assert set(faces) == {str(clips["a"]), str(clips["b"])}
    ids = list(faces.values())
    assert ids[0] != ids[1] and all(i.startswith("face-") for i in ids)
    sums = {recs[i]["outputs"]["track.npz"]["sha256"] for i in ids}
    assert len(sums) == 2  # two different clips' results, neither overwritten
    # the ids are stable: the same however the clips are named on the command line, in any order
    again = collect_clips([str(clips["b"].parent.parent / "*" / "face.mp4")])
    assert {c.path: c.clip_id for c in again} == faces


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "Chromium is not installed (apt-get install chromium; scripts/install.sh does it for the tests)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def dump_dom(page: str, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium (no network, a fresh profile)."""
    profile = tmp_path / "chromium-profile"
    r = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                        "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "<table" in r.stdout, r.stderr[-2000:]
    return r.stdout


def test_report_loads_in_headless_chromium_with_the_right_rows(local_run, tmp_path):
    out, _ = local_run
    recs = records(out)
    page = (out / "report.html").as_uri()
    dom = dump_dom(page + "#sort=-fit_median_px", tmp_path)
    rows = re.findall(r'<tr class="([^"]*)" data-clip="([^"]+)">', dom)
    assert sorted(c for _, c in rows) == sorted(recs)
    assert {c: cls for cls, c in rows} == {k: v["status"] for k, v in recs.items()}
    # the page's script sorted the table by the address's key: largest median first, no figure last
    medians = [recs[c].get("fit_median_px") for _, c in rows]
    assert medians[-1] is None and medians[:2] == sorted(medians[:2], reverse=True)
    assert 'class="desc"' in dom and dom.count("data:image/jpeg;base64,") == 2
    assert "<svg" in dom and "http://" not in dom.split("<body", 1)[1].replace("http://www.w3.org/2000/svg", "")
    by_id = dump_dom(page + "#sort=clip_id", tmp_path)
    order = [c for _, c in re.findall(r'<tr class="([^"]*)" data-clip="([^"]+)">', by_id)]
    assert order == sorted(recs)


# ---------------------------------------------------------------------------------------------
# a real cluster: `dask scheduler` and two `dask worker` processes on loopback

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker processes]): started as separate commands, stopped at the end."""
    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    dask = str(Path(sys.executable).with_name("dask"))
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                               "127.0.0.1:0", "--scheduler-file", str(sched_file)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(d / "scheduler.log", "w"))]
    try:
        for _ in range(600):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                 "--no-dashboard", "--memory-limit", "4GB", "--name", f"w{i}"], cwd=REPO, env=env,
                stdout=subprocess.DEVNULL, stderr=open(d / f"worker{i}.log", "w")))
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=180)
        yield address, procs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def killed_run(cluster, clips, tmp_path_factory):
    """A batch of three clips on the real cluster whose worker process is killed (SIGKILL) while it
    runs a clip. Returns (outdir, the batch command's arguments, its exit code, stderr, the clip
    that was running)."""
    from distributed import Client

    address, _ = cluster
    out = tmp_path_factory.mktemp("killed") / "out"
    args = ["batch", *(str(clips[k]) for k in ("a", "b", "c")), "-o", str(out), "--scheduler", address,
            "--steps", "render"]
    batch = subprocess.Popen([sys.executable, str(REPO / "main.py"), *args], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        with Client(address, timeout="60s") as client:
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 240
            while killed is None and time.monotonic() < deadline and batch.poll() is None:
                for worker, keys in client.processing().items():
                    for key in keys:
                        m = re.match(r"facestudio-clip-(.+)-\d{8}-\d{6}-\d+-\d+$", str(key))
                        clip_id = m.group(1) if m else None
                        started = clip_id is not None and (out / clip_id / ".attempts.json").exists()
                        if started and not (out / clip_id / "metrics.json").exists():
                            os.kill(pids[worker], signal.SIGKILL)
                            killed = clip_id
                            break
                    if killed:
                        break
                time.sleep(0.05)
        _, stderr = batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
    return out, args, batch.returncode, stderr, killed


def test_a_worker_killed_mid_clip_loses_nothing(killed_run, cluster):
    """The scheduler gives the killed worker's task to the other worker (the nanny restarts the
    killed one) and every clip completes, the killed one on its second start."""
    out, _, returncode, stderr, killed = killed_run
    assert killed is not None, "no clip was seen running"
    assert returncode == 0, stderr
    assert f"cluster at {cluster[0]}" in stderr
    recs = records(out)
    assert len(recs) == 3
    for rec in recs.values():
        assert_complete(out, rec)
        assert any(k.startswith("project/") for k in rec["outputs"]) and "overlay.mp4" in rec["outputs"]
    assert recs[killed]["attempt"] == 2  # started again after its worker died
    assert not list(out.glob("*/.attempts.json"))


def test_resume_recomputes_nothing_complete_and_redoes_a_truncated_output(killed_run):
    out, args, *_ = killed_run
    first = records(out)
    redo, *keep = sorted(first)
    keep_files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for k in keep for p in (out / k).rglob("*") if p.is_file()}
    redo_record = (out / redo / "metrics.json").read_bytes()
    victim = next(out / redo / k for k in first[redo]["outputs"] if k.endswith(".npz"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # a truncated output

    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    for k in keep:
        assert re.search(rf"\[\d/3\] {k} kept", r.stderr), r.stderr
    assert re.search(rf"\[\d/3\] {redo} done", r.stderr), r.stderr
    assert "2 kept from an earlier run" in r.stdout
    # nothing of the complete clips was touched
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for k in keep for p in (out / k).rglob("*")
            if p.is_file()} == keep_files
    # the damaged one was computed again and is complete
    now = records(out)
    assert_complete(out, now[redo])
    assert (out / redo / "metrics.json").read_bytes() != redo_record
    with open(out / "report.csv", newline="") as f:
        assert sorted(row["status"] for row in csv.DictReader(f)) == ["done"] * 3


# ---------------------------------------------------------------------------------------------
# the parts, without a cluster

def test_manifest_folders_globs_and_ids(clips, tmp_path):
    from core.batch.inputs import check_models, clip_id, collect_clips, safe_name
    from core.errors import InputError

    manifest = tmp_path / "list.csv"
    rel = os.path.relpath(clips["a"], tmp_path)
    manifest.write_text(f"path,model,max_frames\n# a comment\n{rel},,3\n\n{clips['b']},ict\n")
    got = collect_clips([str(manifest)], model="builtin", max_frames=None)
    assert [(c.path, c.model, c.max_frames) for c in got] == [(str(clips["a"]), "builtin", 3),
                                                             (str(clips["b"]), "ict", None)]
    assert got[0].clip_id == clip_id(str(clips["a"]))
    # a folder gives its videos recursively; the corrupt .mp4 is one of them (it fails as a clip later)
    folder = collect_clips([str(clips["a"].parent.parent)])
    assert sorted(Path(c.path).name for c in folder) == ["corrupt.mp4", "face.mp4", "face.mp4", "talk.mp4"]
    # the same clip twice is one clip; with two models, two clips with their own ids
    assert len(collect_clips([str(clips["a"]), str(clips["a"].parent)])) == 1
    two = collect_clips([str(manifest), str(clips["b"])])
    assert len(two) == 3 and len({c.clip_id for c in two}) == 3
    assert safe_name("my clip (1)") == "my_clip_1" and safe_name("...") == "clip"
    # a model file is named to the workers by its absolute path (relative: to the manifest's folder)
    manifest.write_text(f"{clips['a']},models/m.npz\n")
    (model,) = {c.model for c in collect_clips([str(manifest)])}
    assert model == str(tmp_path / "models" / "m.npz")
    with pytest.raises(InputError, match="face model not found"):
        check_models(collect_clips([str(manifest)]))
    check_models(collect_clips([str(clips["a"])], model="builtin"))
    for bad, needle in ((f"{clips['a']},builtin,0\n", "at least 1"), ("missing.mp4\n", "not found"),
                        (f"{clips['a']},builtin,x\n", "whole number"), ("a,b,c,d\n", "columns")):
        manifest.write_text(bad)
        with pytest.raises(InputError, match=needle):
            collect_clips([str(manifest)])
    with pytest.raises(InputError, match="matches no file"):
        collect_clips([str(tmp_path / "*.nothing")])
    with pytest.raises(InputError, match="not found"):
        collect_clips([str(tmp_path / "absent.mp4")])


def test_steps_add_what_they_need():
    from core.batch.task import parse_steps
    from core.errors import InputError

    assert parse_steps("flow") == ("track", "reconstruct", "flow")
    assert parse_steps("render, track") == ("track", "reconstruct", "render")
    assert parse_steps("track") == ("track",)
    with pytest.raises(InputError, match="expected"):
        parse_steps("track,dance")


def test_completeness_follows_request_input_and_checksums(tmp_path):
    from core.batch.record import incomplete_reason, input_fingerprint, output_entries, write_record

    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"video")
    d = tmp_path / "c"
    d.mkdir()
    (d / "track.npz").write_bytes(b"x" * 100)
    request = dict(steps=["track"], model="builtin", max_frames=None)
    rec = dict(status="done", request=request, input=dict(path=str(clip), **input_fingerprint(str(clip))),
               outputs=output_entries(d, ["track.npz"]))
    write_record(d, rec)
    assert incomplete_reason(d, rec, request, str(clip)) is None
    assert incomplete_reason(d, rec, dict(request, model="ict"), str(clip)) == "made for other settings"
    assert incomplete_reason(d, dict(rec, status="failed"), request, str(clip)) == "status 'failed'"
    (d / "track.npz").write_bytes(b"x" * 99 + b"y")  # same size, other content
    assert "checksum" in incomplete_reason(d, rec, request, str(clip))
    (d / "track.npz").unlink()
    assert "missing" in incomplete_reason(d, rec, request, str(clip))
    (d / "track.npz").write_bytes(b"x" * 100)
    clip.write_bytes(b"other video")
    assert incomplete_reason(d, rec, request, str(clip)) == "input changed"


def test_a_clip_whose_worker_keeps_dying_is_failed_not_retried_forever(clips, tmp_path):
    """The start after --retries deaths records the failure without touching the clip."""
    from core.batch.inputs import collect_clips
    from core.batch.record import ATTEMPTS_NAME, read_record
    from core.batch.task import BatchJob, run_clip

    clip = collect_clips([str(clips["a"])])[0]
    job = BatchJob(str(tmp_path), ("track",), retries=2, run_id="run1")
    d = tmp_path / clip.clip_id
    d.mkdir()
    (d / ATTEMPTS_NAME).write_text(json.dumps(dict(run="run1", count=3)))  # three starts, none ended
    rec = run_clip(clip, job)
    assert rec["status"] == "failed" and rec["error_type"] == "WorkerDied" and rec["attempt"] == 4
    assert "stopped 3 times" in rec["error"] and "--retries 2" in rec["error"]
    assert read_record(d)["status"] == "failed" and not (d / ATTEMPTS_NAME).exists()
    # another run's count does not carry over: the clip is worked on again
    (d / ATTEMPTS_NAME).write_text(json.dumps(dict(run="old", count=9)))
    rec = run_clip(clip, job)
    assert rec["status"] == "done" and rec["attempt"] == 1 and "track.npz" in rec["outputs"]


def test_report_escapes_and_sorts_missing_figures_last(tmp_path):
    from core.batch.report import ReportRow, report_csv, report_html

    rows = [ReportRow("x-1", "/v/<b>.mp4", "failed", dict(status="failed", error="<script>alert(1)</script>")),
            ReportRow("y-2", "/v/y.mp4", "done", dict(status="done", fit_median_px=1.5, frames=10,
                                                        fit_error_hist=[1] * 41, usage=dict(wall_s=3.0))),
            ReportRow("z-3", "/v/z.mp4", "not run", None)]
    page = report_html(tmp_path, rows)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page
    assert "41 frames" in page and page.count("<tr class=") == 3
    text = report_csv(rows).splitlines()
    assert text[0].startswith("clip_id,input,status,frames") and len(text) == 4
    assert text[2].split(",")[:4] == ["y-2", "/v/y.mp4", "done", "10"]


def test_jitter_is_the_median_second_difference():
    import numpy as np

    from core.batch.metrics import landmark_jitter

    F = 10
    t = np.arange(F, dtype=float)
    smooth = np.zeros((F, 68, 2))
    smooth[..., 0] = (3.0 * t)[:, None]          # constant velocity: no second difference
    fitted = np.ones(F, bool)
    assert landmark_jitter(smooth, fitted) == 0.0
    shaky = smooth.copy()
    shaky[::2, :, 1] += 0.5                       # 0.5 px up every other frame: |d2| = 1 px
    assert landmark_jitter(shaky, fitted) == pytest.approx(1.0)
    assert np.isnan(landmark_jitter(shaky, np.zeros(F, bool)))
    rep = np.zeros(F, bool)
    rep[1:] = True
    assert np.isnan(landmark_jitter(shaky, fitted, rep))  # copied fits are no measurement


def test_progress_bar_on_a_terminal_and_in_a_log():
    import io

    from app.commands.batch import BatchBar
    from core.batch.runner import BatchStatus

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    st = BatchStatus(total=13, done=4, failed=1, resumed=1, running=2, elapsed_s=75, eta_s=190)
    term = Terminal()
    bar = BatchBar(term)
    bar(st, None)
    bar(st, dict(status="failed", clip_id="d0-12345678", error="d0.mp4: no face"))
    bar.close()
    text = term.getvalue()
    assert "\rbatch [" in text and "5/13  done 4 (1 kept)  failed 1  running 2  1m15s  ETA 3m10s" in text
    assert "failed: d0-12345678: d0.mp4: no face\n" in text and text.endswith("\n")
    log = io.StringIO()
    bar = BatchBar(log)
    bar(st, None)  # no redraws in a log
    bar(st, dict(status="done", clip_id="d1-1", usage=dict(wall_s=12.34)))
    bar(st, dict(status="failed", clip_id="d0-1", error="no face"))
    assert log.getvalue() == "[5/13] d1-1 done in 12.3 s\n[5/13] d0-1 FAILED: no face\n"


def test_interim_report_while_a_batch_runs(tmp_path, monkeypatch):
    import io

    from app.commands import batch as cmd
    from core.batch.inputs import ClipSpec
    from core.batch.record import write_record
    from core.batch.runner import BatchStatus

    clips = [ClipSpec("a-1", "/v/a.mp4", "builtin"), ClipSpec("b-2", "/v/b.mp4", "builtin")]
    write_record(tmp_path / "b-2", dict(format="facestudio.batch.clip", status="done"))  # an earlier run's
    monkeypatch.setattr(cmd, "REPORT_EVERY_S", 0.0)
    on_status = cmd._with_interim_reports(cmd.BatchBar(io.StringIO()), tmp_path, clips)  # noqa: SLF001
    on_status(BatchStatus(total=2, failed=1), dict(clip_id="a-1", status="failed", error="no face"))
    text = (tmp_path / "report.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in text[1:]] == [["a-1", "/v/a.mp4", "failed"], ["b-2", "/v/b.mp4", "not run"]]
    assert "1 of 2 clips finished so far" in (tmp_path / "report.html").read_text()
