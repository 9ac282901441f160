"""Camera refinement from image motion (core/fitting/image_motion.py) and its use in reconstruct()."""
from __future__ import annotations

import cv2
import imageio.v3 as iio
import numpy as np
import pytest

from conftest import shared_path
from core.camera import OrthoCameras, euler_to_matrix
from core.fitting.image_motion import (FaceMotion, _motion_fit, apply_corrections, fuse_corrections,
                                       measure_motion)


def _portrait() -> np.ndarray:
    return iio.imread(shared_path("data", "portraits", "stills", "d12.jpg"))[..., :3]


def test_measure_motion_recovers_a_known_image_motion():
    img = _portrait()
    H, W = img.shape[:2]
    c = np.array([W / 2, H / 2])
    # a real face moved by a known sub-pixel similarity about the image centre
    shift, angle, scale = np.array([0.7, -0.4]), np.deg2rad(0.6), 1.006
    M = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), float(np.rad2deg(-angle)), scale)
    M[:, 2] += shift
    moved = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[H * 0.3:H * 0.7:12j, W * 0.3:W * 0.7:12j]
    pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    points = np.stack([pts, pts])               # the "fit" did not move: all motion is residual
    m = measure_motion([img, moved], points, np.ones(2, bool))
    assert m.weight[0] == 1 and m.tracked_fraction[0] > 0.8
    # expected displacement of each point under M, against the measured motion model
    want = (pts[:, :2] @ M[:, :2].T + M[:, 2]) - pts[:, :2]
    g = m.similarity[0]
    q = pts - m.centre[0]
    got = g[:2] + g[2] * q[:, :2] + np.stack([-g[5] * q[:, 1], g[5] * q[:, 0]], 1)
    assert np.abs(got - want).max() < 0.06
    assert abs(g[5] - angle) < np.deg2rad(0.05) and abs(np.exp(g[2]) - scale) < 0.001


def _rigid_motion_truth(F=90, N=150, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3)) * [4.0, 5.0, 2.0]            # a face-sized point cloud (cm)
    t = np.arange(F)
    yaw, pitch, roll = 0.25 * np.sin(t / 15), 0.1 * np.sin(t / 11 + 1), 0.05 * np.sin(t / 20)
    R = np.stack([euler_to_matrix(a, b, c) for a, b, c in zip(yaw, pitch, roll)])
    shift = np.stack([240 + 20 * np.sin(t / 9), 250 + 8 * np.cos(t / 13)], 1)
    truth = OrthoCameras(10 + 0.3 * np.sin(t / 25), R, shift)
    return X, truth


def test_fusion_moves_noisy_cameras_onto_the_image_motion():
    X, truth = _rigid_motion_truth()
    F = len(truth)
    rng = np.random.default_rng(5)
    # landmark-fitted cameras: right on average, ~1 px of frame-to-frame error, with
    # small out-of-plane errors too (all signs of the rotation model exercised)
    dw = rng.normal(scale=[0.01, 0.01, 0.004], size=(F, 3))
    from core.fitting.image_motion import _rodrigues
    fitted = OrthoCameras(truth.scale * np.exp(rng.normal(scale=0.004, size=F)),
                          np.einsum("fij,fjk->fik", _rodrigues(dw), truth.rotation),
                          truth.translation + rng.normal(scale=0.8, size=(F, 2)))
    p_true, p_fit = truth.project(X), fitted.project(X)
    # what LK would see: the true image motion; the fit's own motion is subtracted
    centre = p_fit.mean(1)
    sim = np.stack([_motion_fit(p_fit[f], (p_true[f + 1] - p_true[f] - (p_fit[f + 1] - p_fit[f]))[:, :2], centre[f])
                    for f in range(F - 1)])
    radius = np.sqrt(((p_fit[..., :2] - centre[:, None, :2]) ** 2).sum(-1).mean(1))
    motion = FaceMotion(sim, np.ones(F - 1), centre, radius, np.ones(F - 1))
    g = fuse_corrections(motion, np.zeros(F, np.int32), 10.0)
    fixed = apply_corrections(fitted, g, centre)
    p_new = fixed.project(X)

    def step_error(p):   # error of the frame-to-frame motion (px)
        return np.linalg.norm(np.diff(p[..., :2], axis=0) - np.diff(p_true[..., :2], axis=0), axis=-1).mean()

    def pos_error(p):
        return np.linalg.norm(p[..., :2] - p_true[..., :2], axis=-1).mean()

    assert step_error(p_new) < 0.15 * step_error(p_fit)
    assert pos_error(p_new) < 0.6 * pos_error(p_fit)
    # a proper rotation and a positive scale come out
    assert np.allclose(np.linalg.det(fixed.rotation), 1.0) and (fixed.scale > 0).all()


def test_fusion_respects_segments_and_unfitted_frames():
    F = 30
    sim = np.zeros((F - 1, 6))
    sim[:, 0] = 1.0                                              # 1 px/frame residual motion in x
    seg = np.zeros(F, np.int32)
    seg[15:] = 1
    seg[[7]] = -1
    motion = FaceMotion(sim, np.ones(F - 1), np.zeros((F, 3)), np.full(F, 50.0), np.ones(F - 1))
    g = fuse_corrections(motion, seg, 10.0)
    assert (g[7] == 0).all()
    # inside a segment the corrections follow the measured motion from one frame to the next
    assert np.allclose(np.diff(g[8:15, 0]), 1.0, atol=0.08)
    # no link across the segment boundary: the jump there is free (not 1 px)
    assert abs((g[15, 0] - g[14, 0]) - 1.0) > 0.5
    # with the refinement off nothing changes
    assert (fuse_corrections(motion, seg, 0.0) == 0).all()


@pytest.fixture(scope="module")
def short_clip():
    from core.video import open_source
    # d9 frames 120-167: the head turns and nods (up to 5 px per frame)
    with open_source(str(shared_path("data", "videos", "d9.mp4"))) as src:
        frames, fps = [img for _, img in src.frames(120, 168)], src.fps
    frames[30] = frames[29].copy()          # a frame-rate-conversion repeat
    return frames, fps


def test_reconstruct_with_frames_follows_the_image_and_repeats(short_clip):
    from core.flow.evaluate import dis_flow
    from core.fitting import FitSettings, basis_from_embedding, reconstruct
    from core.model.registry import load_model
    from core.tracking import track_frames

    frames, fps = short_clip
    track = track_frames(frames, fps=fps)
    model = load_model("builtin")
    plain = reconstruct(track, model, "builtin", FitSettings(image_motion_frames=0), frames=lambda: iter(frames))
    refined = reconstruct(track, model, "builtin", frames=lambda: iter(frames))
    # the repeated frame copies its predecessor's fit exactly
    assert np.array_equal(refined.expression[30], refined.expression[29])
    assert np.allclose(refined.translation[30], refined.translation[29])
    assert not np.allclose(plain.translation[30], plain.translation[29], atol=1e-3)
    # and the reconstruction records it (the editor's flow view skips it), nothing else
    assert np.flatnonzero(refined.repeated).tolist() == [30] and not plain.repeated.any()
    # the fitted points' motion agrees better with an independent dense flow (DIS)
    basis = basis_from_embedding(model)

    def motion_error(rec):
        p = rec.cameras.project(basis.points(rec.identity.astype(float), rec.expression.astype(float)))[:, :468, :2]
        errs = []
        for f in range(0, len(frames) - 1, 3):
            d = dis_flow(frames[f], frames[f + 1])
            xy = np.clip(np.round(p[f]).astype(int), 0, [d.shape[1] - 1, d.shape[0] - 1])
            errs.append(np.linalg.norm((p[f + 1] - p[f]) - d[xy[:, 1], xy[:, 0]], axis=1).mean())
        return float(np.mean(errs))

    before, after = motion_error(plain), motion_error(refined)
    print("motion error vs DIS, plain vs refined (px):", before, after)
    assert after < 0.8 * before, (before, after)
    # still close to the landmarks (mean error within 2.5 % of the inter-ocular distance)
    iod = np.linalg.norm(refined.landmarks68[:, 36] - refined.landmarks68[:, 45], axis=1)
    assert np.nanmean(refined.fit_error_px / iod) < 0.025


def test_repeated_frames_are_told_from_still_and_blinking_faces(short_clip):
    from core.fitting.image_motion import is_repeat

    frames, _ = short_clip
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames[:6]]
    H, W = grey[0].shape
    box = np.array([[W * 0.3, H * 0.25], [W * 0.7, H * 0.75]])
    rng = np.random.default_rng(1)
    # a re-encoded repeat: the same picture with codec-like noise
    noisy = np.clip(grey[0] + rng.normal(0, 0.3, grey[0].shape).round(), 0, 255).astype(np.uint8)
    assert is_repeat(grey[0], noisy, box)
    # a local change on an otherwise identical face (a blink-sized patch) is not a repeat
    blink = noisy.copy()
    y, x = int(H * 0.4), int(W * 0.45)
    blink[y:y + 10, x:x + 24] = np.clip(blink[y:y + 10, x:x + 24].astype(int) - 40, 0, 255)
    assert not is_repeat(grey[0], blink, box)
    # consecutive real frames of the clip are not repeats
    assert not any(is_repeat(grey[i], grey[i + 1], box) for i in range(5))
