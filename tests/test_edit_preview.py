"""Edited frames rendered back into real footage: only where there is a face."""
from __future__ import annotations

import numpy as np

from conftest import shared_path


def test_edit_changes_the_face_and_leaves_faceless_frames_alone():
    from core.edits import EditedFrameRenderer
    from core.fitting import reconstruct
    from core.model.registry import load_model
    from core.tracking import track_video
    from core.video import open_source

    clip = shared_path("data", "videos", "d9.mp4")
    tr = track_video(str(clip), max_frames=6)
    model = load_model("builtin")
    rec = reconstruct(tr, model, "builtin")
    assert rec.valid.all()
    with open_source(str(clip)) as src:
        frames = [src.read(i) for i in range(2)]
    edited = rec.expression.astype(np.float64).copy()
    edited[:, model.expression_index("jawOpen")] += 0.8

    renderer = EditedFrameRenderer(model, rec)
    out = renderer.render(frames[1], 1, edited[1])
    changed = np.any(out != frames[1], axis=2)
    assert changed.sum() > 300  # the jaw opened
    ys, xs = np.nonzero(changed)
    lm = tr.landmarks[1, :, :2]
    box = np.r_[lm.min(0) - 0.3 * np.ptp(lm, 0), lm.max(0) + 0.3 * np.ptp(lm, 0)]
    inside = (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])
    assert inside.mean() > 0.98  # and nothing away from the face

    # a frame where the tracker found no face keeps its pixels (its fit is borrowed)
    rec.valid[1] = False
    assert renderer.render(frames[1], 1, edited[1]) is frames[1]
