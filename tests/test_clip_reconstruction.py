"""One clip reconstruction (core/fitting/clip.py): track, then fit, with named stages and real
counts in the progress; the reenactment, the QA commands and the GUI's job all go through it."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path

N = 24


def _recorder():
    seen: list[tuple[int, int, str]] = []
    return seen, lambda d, t, m="": seen.append((int(d), int(t), str(m)))


@pytest.fixture(scope="module")
def builtin():
    from core.model.registry import load_model

    return load_model("builtin")


def test_reenactment_prepare_reports_the_fit(builtin):
    """ReenactmentPipeline.prepare passed no progress to the fit: the bar stalled after tracking."""
    from core.reenact.pipeline import ReenactmentPipeline

    seen, progress = _recorder()
    face = ReenactmentPipeline(builtin).prepare(str(shared_path("data", "videos", "d3.mp4")), max_frames=N,
                                                progress=progress)
    assert face.num_frames == N
    messages = [m for _, _, m in seen]
    assert any(m.startswith("tracking ") for m in messages), messages
    fit = [(d, t, m) for d, t, m in seen if m.startswith("fitting")]
    assert fit, messages
    assert fit[-1][0] == fit[-1][1]  # the fit reports to its end
    done = [d / t for d, t, _ in seen if t > 0]
    assert done == sorted(done) and done[-1] == 1.0  # never backwards, ends full


def test_reconstruct_clip_is_track_then_fit_with_named_stages():
    """The one composition: the same track and fit as the two steps by hand (with the clip's
    frames as image evidence), and a progress bar that names its stages and never goes back."""
    from core.fitting import FitSettings, clip_frames, reconstruct
    from core.fitting.clip import reconstruct_clip
    from core.tracking import track_video

    d3 = str(shared_path("data", "videos", "d3.mp4"))
    seen, progress = _recorder()
    clip = reconstruct_clip(d3, "builtin", FitSettings(corrective=False), max_frames=N, progress=progress)
    assert clip.reconstruction.model_spec == "builtin" and clip.track.num_frames == N
    by_hand_track = track_video(d3, max_frames=N)
    np.testing.assert_array_equal(clip.track.landmarks, by_hand_track.landmarks)
    by_hand = reconstruct(by_hand_track, clip.model, "builtin", FitSettings(corrective=False),
                          frames=clip_frames(d3, N))
    np.testing.assert_allclose(clip.reconstruction.expression, by_hand.expression, atol=1e-5)
    np.testing.assert_allclose(clip.reconstruction.translation, by_hand.translation, atol=1e-3)
    messages = [m for _, _, m in seen]
    assert messages[0].startswith("tracking ") and messages[0].endswith(f"/{N}"), messages[0]
    for step in ("fitting: camera initialisation 1/", "fitting: whole-video fit 1/", "fitting: image motion"):
        assert any(m.startswith(step) for m in messages), (step, messages)
    assert any(m.startswith("fitting: whole-video fit") and m.endswith(" rounds") for m in messages), messages
    assert not any(m.count(":") > 1 or "tracking: tracking" in m for m in messages), messages
    done = [d / t for d, t, _ in seen if t > 0]
    assert done == sorted(done) and seen[-1][:2] == (1000, 1000)
    # a given track is fitted, not tracked again: the bar starts with the fit
    seen.clear()
    again = reconstruct_clip(d3, clip.model, FitSettings(corrective=False), track=clip.track, progress=progress)
    assert not any(m.startswith("tracking") for _, _, m in seen)
    np.testing.assert_array_equal(again.reconstruction.expression, clip.reconstruction.expression)


def test_image_motion_and_corrective_report_their_counts(builtin):
    """The two stages after the landmark fit count what they wait for (frames measured, frame
    pairs flowed, passes) instead of holding the bar at one percentage."""
    from core.fitting import FitSettings, clip_frames, reconstruct
    from core.tracking import track_video

    d3 = str(shared_path("data", "videos", "d3.mp4"))
    seen, progress = _recorder()
    reconstruct(track_video(d3, max_frames=40), builtin, "builtin", FitSettings(), frames=clip_frames(d3, 40),
                progress=progress)
    messages = [m for _, _, m in seen]
    assert "image motion 40/40 frames" in messages, messages
    assert "corrective flow 25/39 frame pairs" in messages and "corrective pass 2/2" in messages, messages
    done = [d / t for d, t, _ in seen if t > 0]
    assert done == sorted(done) and done[-1] == 1.0


def test_reconstruct_clip_names_the_input_without_a_face(tmp_path):
    from core.errors import NoFaceError
    from core.fitting.clip import reconstruct_clip

    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(NoFaceError, match="blank.png: no face found in the image"):
        reconstruct_clip(str(blank))
