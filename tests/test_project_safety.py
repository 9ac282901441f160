"""No project damaged: one writer at a time, readers never see a half-saved project, leftovers
of killed saves cleaned up, and every damage of issue 16's corpus refused with a message
naming the file (the damaged arrays had their checksums recomputed, so only the checks
of core/project/validate.py stand between them and the rest of the program)."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from core.checksum import sha256_of
from core.errors import InputError, OutputError, ProjectLockedError
from core.npz_io import save_npz_atomic
from core.project import Project, holder_of, load_project, lock_project, open_project, save_project
from project_fuzz import F, make_base, make_reconstruction, make_source, make_track


@pytest.fixture
def proj(tmp_path) -> Path:
    return make_base(tmp_path)


def _entry(p: Path, block: str) -> dict:
    return json.loads((p / "project.json").read_text())["arrays"][block]


def _rewrite(p: Path, block: str, mutate) -> None:
    """Change one array file and recompute its size and checksum in project.json."""
    doc = json.loads((p / "project.json").read_text())
    e = doc["arrays"][block]
    with np.load(p / e["file"], allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    mutate(data)
    save_npz_atomic(p / e["file"], data)
    e["bytes"], e["sha256"] = (p / e["file"]).stat().st_size, sha256_of(p / e["file"])
    (p / "project.json").write_text(json.dumps(doc))


def _edit_json(p: Path, mutate) -> None:
    doc = json.loads((p / "project.json").read_text())
    mutate(doc)
    (p / "project.json").write_text(json.dumps(doc))


# -- issue 16's damaged projects --------------------------------------------------------------
def _set(d, key, value):
    d[key] = value


CORPUS = [
    ("track landmarks (F, 10, 3)", "track", lambda d: _set(d, "landmarks", d["landmarks"][:, :10]),
     r"track array 'landmarks' has shape \(4, 10, 3\), expected \(\*, 478, 3\)"),
    ("NaN landmarks on a valid frame", "track", lambda d: d["landmarks"].__setitem__((1, 5, 0), np.nan),
     r"'landmarks' contains NaN or infinite values on frames marked valid"),
    ("NaN pose on a valid frame", "track", lambda d: d["pose"].__setitem__((0, 0, 3), np.nan),
     r"'pose' contains NaN"),
    ("all-zero rotations", "reconstruction", lambda d: d["rotation"].__setitem__(Ellipsis, 0.0),
     r"rotation of frame 0 is not a rotation matrix"),
    ("a reflection", "reconstruction", lambda d: d["rotation"].__setitem__((2, 0, 0), -d["rotation"][2, 0, 0]),
     r"rotation of frame 2 is not a rotation matrix"),
    ("expression 1e30", "reconstruction", lambda d: d["expression"].__setitem__((1, 2), 1e30),
     r"'expression' holds values up to 1e\+30"),
    ("identity 1e6", "reconstruction", lambda d: d["identity"].__setitem__(0, 1e6), r"'identity' holds values"),
    ("zero scale", "reconstruction", lambda d: d["scale"].__setitem__(1, 0.0), r"'scale' has values <= 0"),
    ("text landmarks", "track", lambda d: _set(d, "landmarks", d["landmarks"].astype(str)),
     r"'landmarks' has type <U\d+, expected floating point"),
]


@pytest.mark.parametrize("what,block,mutate,message", CORPUS, ids=[c[0] for c in CORPUS])
def test_damaged_arrays_with_recomputed_checksums_are_refused(proj, what, block, mutate, message):
    _rewrite(proj, block, mutate)
    with pytest.raises(InputError, match=message) as e:
        load_project(proj)
    assert _entry(proj, block)["file"] in str(e.value)


def test_arrays_of_another_clip_length_are_refused(tmp_path):
    """More frames than the source has: the arrays belong to another clip (fewer is a project of
    the clip's first frames, which the editor makes with a frame limit)."""
    src = make_source(tmp_path / "clip", F - 1)
    p = tmp_path / "p.fsproj"
    save_project(p, Project(source=str(src), model_spec="builtin", reconstruction=make_reconstruction(),
                            track=make_track()))
    with pytest.raises(InputError, match=rf"the reconstruction has {F} frames but the project's source .*clip "
                                         rf"has only {F - 1}"):
        load_project(p)
    assert load_project(p, check_source=False).reconstruction.num_frames == F
    make_source(tmp_path / "clip", F + 3)  # the clip's first F frames: a project of its beginning
    assert load_project(p).reconstruction.num_frames == F


def test_a_save_that_could_not_be_opened_again_is_refused_and_the_last_one_kept(tmp_path):
    """A reconstruction with a mirrored (negative-scale) frame, as a fit correction once made:
    the save says so and writes nothing, the project on disk stays the last good one."""
    src = make_source(tmp_path / "clip")
    p = tmp_path / "p.fsproj"
    good = make_reconstruction()
    save_project(p, Project(source=str(src), model_spec="builtin", reconstruction=good, track=make_track()))
    files = sorted(x.name for x in p.iterdir())
    bad = make_reconstruction()
    bad.scale[3] = -bad.scale[3]
    with pytest.raises(InputError, match=r"refusing to save: the reconstruction.*'scale' has values <= 0 \(frame 3\)"):
        save_project(p, Project(source=str(src), model_spec="builtin", reconstruction=bad, track=make_track()))
    assert sorted(x.name for x in p.iterdir()) == files
    np.testing.assert_array_equal(load_project(p).reconstruction.scale, good.scale)


@pytest.mark.parametrize("value", [True, 1.0, "1", None, 0])
def test_schema_version_must_be_a_positive_integer(proj, value):
    _edit_json(proj, lambda d: _set(d, "schema_version", value))
    with pytest.raises(InputError, match="invalid schema_version"):
        load_project(proj)


def test_array_files_must_stay_in_the_folder(proj, tmp_path):
    outside = tmp_path / "outside" / "foreign.npz"
    e = _entry(proj, "reconstruction")
    _edit_json(proj, lambda d: d["arrays"]["reconstruction"].__setitem__("file", "../outside/foreign.npz"))
    with pytest.raises(InputError, match="invalid entry for the reconstruction arrays"):
        load_project(proj)
    _edit_json(proj, lambda d: d["arrays"]["reconstruction"].__setitem__("file", e["file"]))
    # a symlink out of the folder, with the checksum recomputed for the file it points to
    (proj / e["file"]).unlink()
    (proj / e["file"]).symlink_to(outside)
    _edit_json(proj, lambda d: d["arrays"]["reconstruction"].update(bytes=outside.stat().st_size,
                                                                    sha256=sha256_of(outside)))
    with pytest.raises(InputError, match="is a link to a file outside the project folder"):
        load_project(proj)
    (proj / "project.json").rename(proj / "real.json")
    (proj / "project.json").symlink_to(tmp_path / "outside" / "foreign.json")
    with pytest.raises(InputError, match="project.json: is a link to a file outside"):
        load_project(proj)


def test_huge_and_deeply_nested_json_are_refused_quickly(proj):
    jp = proj / "project.json"
    jp.write_text('{"format": "facestudio.project", "schema_version": 1, "edits": ' + "[" * 100_000
                  + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="nested too deeply"):
        load_project(proj)
    with open(jp, "r+b") as f:  # 1 GB on paper (sparse): refused on its size, never read
        f.truncate(1 << 30)
    with pytest.raises(InputError, match="1,073,741,824 bytes, more than"):
        load_project(proj)


def test_json_nan_literals_are_refused(proj):
    text = (proj / "project.json").read_text().replace('"settings": {', '"settings": {"x": NaN, ', 1)
    (proj / "project.json").write_text(text)
    with pytest.raises(InputError, match="NaN is not allowed"):
        load_project(proj)


@pytest.mark.parametrize("generation", ["abc", 1.5, None, [2], True, -3])
def test_a_project_that_loads_saves(proj, generation):
    _edit_json(proj, lambda d: d["arrays"]["track"].__setitem__("generation", generation))
    p = load_project(proj)
    save_project(proj, p)  # raised ValueError for "abc" before
    q = load_project(proj)
    assert np.array_equal(q.reconstruction.expression, p.reconstruction.expression)
    assert isinstance(_entry(proj, "track")["generation"], int)


# -- leftovers --------------------------------------------------------------------------------
def test_stale_temp_files_and_old_generations_go_at_the_next_save(proj):
    keep_src = load_project(proj)
    (proj / ".project.json.abc123.tmp").write_text("{")
    (proj / ".reconstruction-7-0badf00d.npz.q1w2e3.tmp").write_bytes(b"PK")
    (proj / "reconstruction-7-0badf00d.npz").write_bytes(b"PK" * 1000)   # a killed save's, never committed
    (proj / "track-3.npz").write_bytes(b"PK")                             # an old generation (older naming)
    (proj / "notes.txt").write_text("mine")                               # the user's own file stays
    save_project(proj, keep_src)
    names = sorted(os.listdir(proj))
    doc = json.loads((proj / "project.json").read_text())
    assert names == sorted([".lock", "project.json", "notes.txt", doc["arrays"]["reconstruction"]["file"],
                            doc["arrays"]["track"]["file"]])
    assert doc["arrays"]["reconstruction"]["generation"] == 8  # above every generation seen in the folder


def _save_loop(folder: str, rounds: int, tag: str, src: str, done=None) -> None:
    """A writer process: ``rounds`` saves of the project (rounds < 0: until killed)."""
    i = 0
    while rounds < 0 or i < rounds:
        save_project(folder, Project(source=src, model_spec="builtin", reconstruction=make_reconstruction(seed=i),
                                     track=make_track(seed=i), edits={"by": tag, "i": i}))
        if done is not None:
            done.set()
        i += 1


# fork: the children start at once with everything imported (a fresh interpreter would spend
# seconds importing core on a busy machine)
_mp = multiprocessing.get_context("fork")


def test_killed_saves_leave_nothing_after_the_next_save(proj, tmp_path):
    """kill -9 at random moments of saves (the issue: 19 .tmp files and an old generation
    stayed); the last good project always loads and the next save cleans up."""
    src = load_project(proj).source
    rng = np.random.default_rng(3)
    for _ in range(8):
        done = _mp.Event()
        child = _mp.Process(target=_save_loop, args=(str(proj), -1, "k", src, done))
        child.start()
        assert done.wait(60)  # one save done, the next under way
        time.sleep(float(rng.uniform(0, 0.03)))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        load_project(proj)  # never damaged
    save_project(proj, load_project(proj))
    doc = json.loads((proj / "project.json").read_text())
    names = sorted(os.listdir(proj))
    assert names == sorted([".lock", "project.json", doc["arrays"]["reconstruction"]["file"],
                            doc["arrays"]["track"]["file"]]), names


# -- one writer at a time ------------------------------------------------------------------------
def test_two_processes_saving_while_a_third_loads(proj, tmp_path):
    """The issue's reproduction: two writers saving the same project in a loop, a reader loading
    it in a loop: before, thousands of loads failed (size/checksum mismatches, missing arrays) and
    a save died with FileNotFoundError. Now: zero failures on either side."""
    src = load_project(proj).source
    rounds = 25
    savers = [_mp.Process(target=_save_loop, args=(str(proj), rounds, tag, src)) for tag in "ab"]
    for s in savers:
        s.start()
    loads, failures = 0, []
    while any(s.is_alive() for s in savers) or loads < 5:
        try:
            p = load_project(proj)
            assert p.edits.get("by") in ("a", "b") or p.edits == {"k": [1, 2]}
            loads += 1
        except InputError as e:
            failures.append(str(e))
    for s in savers:
        s.join()
    assert [s.exitcode for s in savers] == [0, 0]  # (a save raising ends its process with 1)
    assert failures == [], f"{len(failures)} of {loads + len(failures)} loads failed: {failures[:3]}"
    assert load_project(proj).edits["i"] == rounds - 1


def test_an_editor_holds_the_project_and_others_get_a_clear_refusal(proj, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from core.project import open_project\n"
        f"op = open_project({str(proj)!r}, program='FaceStudio editor')\n"
        "print('open', flush=True); sys.stdin.read()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert holder_of(proj)["pid"] == holder.pid
        with pytest.raises(ProjectLockedError, match=rf"open for writing elsewhere \(process {holder.pid} "
                                                     r"\(FaceStudio editor\)") as e:
            open_project(proj)
        assert e.value.holder["kind"] == "session" and e.value.path == str(proj)
        with pytest.raises(ProjectLockedError):
            save_project(proj, load_project(proj), wait=0.1)
        ro = open_project(proj, read_only=True)  # what the GUI offers instead
        assert ro.read_only and ro.project.reconstruction is not None
        with pytest.raises(OutputError, match="opened read-only"):
            ro.save()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the holder is gone (however it ended): the lock is free again
    with open_project(proj) as op:
        op.save()
        assert not op.read_only


def test_a_lock_within_one_process_separates_two_windows(proj):
    with lock_project(proj, kind="session", program="window 1"):
        with pytest.raises(ProjectLockedError, match="window 1"):
            lock_project(proj, kind="session")
    with lock_project(proj, kind="session") as lock:  # released: free
        save_project(proj, load_project(proj), lock=lock)


def test_outputs_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "p.fsproj"
        save_project(p, Project(source="", model_spec="builtin", reconstruction=make_reconstruction()))
        modes = {n: (p / n).stat().st_mode & 0o777 for n in os.listdir(p) if n != ".lock"}
        assert set(modes.values()) == {0o644}, modes  # 0600 before
        os.umask(0o027)
        make_track().save(tmp_path / "t.npz")
        assert (tmp_path / "t.npz").stat().st_mode & 0o777 == 0o640
        os.chmod(tmp_path / "t.npz", 0o664)  # a replaced file keeps its mode
        make_track().save(tmp_path / "t.npz")
        assert (tmp_path / "t.npz").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
