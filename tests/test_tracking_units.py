"""Tracking logic without the detector: face selection, gap bridging, One Euro filtering,
and the live FaceTracker on a few real frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import shared_path
from core.tracking import FaceTracker
from core.tracking.filtering import OneEuroFilter, one_euro, smooth_track
from core.tracking.gaps import bridge_gaps, find_gaps
from core.tracking.selection import FaceSelector


def fake_face(cx: float, cy: float, width: float) -> np.ndarray:
    """(478, 3) points spread over a box of ``width`` centred on (cx, cy)."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (478, 3)) * width
    pts[:2, :2] = [[-0.5 * width, -0.5 * width], [0.5 * width, 0.5 * width]]  # exact box corners
    return (pts + [cx, cy, 0]).astype(np.float32)


def test_selector_follows_identity_not_detector_order():
    sel = FaceSelector()
    big, small = fake_face(100, 100, 80), fake_face(300, 100, 60)
    c = sel.choose(np.stack([small, big]))
    assert c.index == 1 and c.new_segment and c.segment == 0     # the largest starts
    for k in range(10):
        moved_big, moved_small = big + [3 * k, 0, 0], small - [2 * k, 0, 0]
        order = [moved_big, moved_small] if k % 2 else [moved_small, moved_big]
        c = sel.choose(np.stack(order))
        assert order[c.index] is moved_big and c.segment == 0 and not c.new_segment


def test_selector_bridges_short_and_splits_long_losses_and_jumps():
    sel = FaceSelector(max_bridge=5)
    face, other = fake_face(100, 100, 80), fake_face(400, 100, 100)
    none = np.zeros((0, 478, 3), np.float32)
    assert sel.choose(face[None]).segment == 0
    for _ in range(5):                                  # short loss: same segment on return
        assert sel.choose(none).index == -1
    c = sel.choose(face[None])
    assert c.index == 0 and c.segment == 0 and not c.new_segment
    for _ in range(6):                                  # long loss: new segment on return
        sel.choose(none)
    c = sel.choose(face[None])
    assert c.segment == 1 and c.new_segment
    c = sel.choose((face + [200, 0, 0])[None])          # lone face jumps 2.5 widths: split now
    assert c.index == 0 and c.segment == 2 and c.new_segment
    # With two people, the followed one hidden: the other is not taken for K frames.
    sel = FaceSelector(max_bridge=5)
    sel.choose(np.stack([face, fake_face(400, 100, 60)]))
    for _ in range(5):
        assert sel.choose(other[None]).index == -1
    c = sel.choose(other[None])
    assert c.index == 0 and c.new_segment and c.segment == 1


def test_bridge_gaps_interpolates_landmarks_blendshapes_and_pose():
    F = 8
    lm = np.full((F, 478, 3), np.nan, np.float32)
    bs = np.full((F, 52), np.nan, np.float32)
    pose = np.full((F, 4, 4), np.nan, np.float32)
    detected = np.array([1, 1, 0, 0, 0, 1, 0, 0], bool)
    segment = np.where(detected, 0, -1).astype(np.int32)
    for i in np.flatnonzero(detected):
        lm[i] = i * 10.0
        bs[i] = i / 10.0
        pose[i] = np.eye(4)
        pose[i, :3, :3] = Rotation.from_euler("y", 8.0 * i, degrees=True).as_matrix()
        pose[i, :3, 3] = [i, 0, -30]
    assert find_gaps(detected, segment) == [(1, 5)]
    bridged = bridge_gaps(lm, bs, pose, detected, segment)
    assert bridged.tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert np.allclose(lm[3], 30.0) and np.allclose(bs[4], 0.4)
    assert np.allclose(Rotation.from_matrix(pose[3, :3, :3]).as_euler("xyz", degrees=True), [0, 24, 0], atol=1e-3)
    assert np.allclose(pose[2, :3, 3], [2, 0, -30])
    assert segment[2:5].tolist() == [0, 0, 0] and np.isnan(lm[6:]).all()   # trailing loss stays invalid
    # Ends in different segments are never bridged.
    seg2 = np.array([0, 0, -1, -1, -1, 1, -1, -1], np.int32)
    assert find_gaps(detected, seg2) == []


def test_one_euro_smooths_still_signal_and_follows_fast_motion():
    rng = np.random.default_rng(1)
    fps, n, width = 30.0, 300, 200.0
    still = 100 + rng.normal(0, 1.0, (n, 1))
    out = one_euro(still, fps, width)
    assert np.std(np.diff(out[30:, 0], 2)) < 0.15 * np.std(np.diff(still[30:, 0], 2))
    assert abs(out[30:, 0].mean() - 100) < 0.3
    # A ramp of 2 face widths per second: the causal filter lags under half a frame,
    # the offline (forward-backward) one not at all.
    t = np.arange(n) / fps
    ramp = (400 * t)[:, None] + rng.normal(0, 1.0, (n, 1))
    live = one_euro(ramp, fps, width)
    offline = smooth_track(ramp, fps, width)
    truth = 400 * t
    assert np.abs(live[60:-60, 0] - truth[60:-60]).mean() < 0.5 * 400 / fps
    assert np.abs(offline[60:-60, 0] - truth[60:-60]).mean() < 1.0
    # The filter restarts on a time reset (a new segment).
    f = OneEuroFilter(scale=width)
    f(np.array([0.0]), 0.0)
    assert f(np.array([50.0]), 0.0)[0] == 50.0


def test_live_face_tracker_on_real_frames():
    cap = cv2.VideoCapture(str(shared_path("data", "videos", "d19.mp4")))
    frames = []
    for _ in range(20):
        ok, f = cap.read()
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    frames[10] = np.zeros_like(frames[10])
    outs = []
    with FaceTracker(smooth=True) as tr:
        for i, f in enumerate(frames):
            outs.append(tr.process(f, i * 40))
            assert tr.last_n_faces == (0 if i == 10 else 1)
        assert len(tr.blendshape_names) == 52
    assert outs[10] is None and all(o is not None for k, o in enumerate(outs) if k != 10)
    assert all(o.segment == 0 for o in outs if o is not None)
    assert outs[5].landmarks.shape == (478, 3) and outs[5].blendshapes.shape == (52,)
    diff = np.linalg.norm(outs[15].landmarks[:, :2] - outs[15].landmarks_raw[:, :2], axis=1)
    assert 0 < np.median(diff) < 2.0 and diff.max() < 8.0


def test_track_frames_reports_progress_and_cancels():
    import threading

    from core.jobs import CancelToken, Cancelled
    from core.tracking import track_frames

    frame = cv2.cvtColor(cv2.imread(str(shared_path("data", "portraits", "stills", "d19.jpg"))), cv2.COLOR_BGR2RGB)
    frame = cv2.resize(frame, (240, 240))
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield frame

    token = CancelToken()
    seen = []

    def progress(done, total, msg):
        seen.append((done, total))
        if done >= 21:
            token.cancel()

    before = threading.active_count()
    with pytest.raises(Cancelled):
        track_frames(endless(), 30.0, total=1000, progress=progress, cancel=token)
    assert seen[0] == (1, 1000) and seen[-1][0] == 21
    # The decode thread stopped, having read at most a queue's worth ahead.
    assert threading.active_count() == before and len(produced) < 40
