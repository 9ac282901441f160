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


def test_edit_preview_warps_the_corrected_mesh():
    """The preview's faces are the reconstruction's posed meshes, corrective included: with a
    corrective that lowers the lower lip of frame 1 by 3 mm, the driven face's lip points (the
    mouth-opening test, the fill's polygon, the face's hull) sit where the corrected mesh puts
    them, and the filled mouth of a jaw-opening edit reaches that much lower."""
    import dataclasses

    from core.edits import EditedFrameRenderer
    from core.fitting import reconstruct
    from core.model.registry import load_model
    from core.tracking import track_video
    from core.video import open_source
    from core.warp.landmarks import LIP_MIDDLE

    clip = shared_path("data", "videos", "d9.mp4")
    tr = track_video(str(clip), max_frames=4)
    model = load_model("builtin")  # its vertex i is tracker point i
    plain = reconstruct(tr, model, "builtin")
    lower_lip = [14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375]
    weight = np.zeros((model.num_vertices, 1), np.float32)
    weight[lower_lip] = 1.0
    offsets = np.zeros((plain.num_frames, 1, 3), np.float32)
    offsets[1, 0] = (0.0, -0.3, 0.0)  # 3 mm down (model y is up)
    corrected = dataclasses.replace(plain, corrective=offsets, corrective_weight=weight,
                                    corrective_index=np.zeros((model.num_vertices, 1), np.int32))
    edited = plain.expression[1].astype(np.float64).copy()
    edited[model.expression_index("jawOpen")] += 0.6
    px_per_cm = float(plain.scale[1])

    faces = {}
    for name, rec in (("plain", plain), ("corrected", corrected)):
        r = EditedFrameRenderer(model, rec)
        faces[name] = (r.face(1, None, target=True), r.face(1, edited))
        # the preview's faces are exactly the reconstruction's posed meshes
        np.testing.assert_allclose(faces[name][1].screen, rec.posed_vertices(model, 1, edited))
    lip = LIP_MIDDLE[1]
    for k in (0, 1):  # target and driven: the lower lip is 3 mm lower on the corrected mesh
        drop = faces["corrected"][k].points[lip, 1] - faces["plain"][k].points[lip, 1]
        assert abs(drop - 0.3 * px_per_cm) < 0.05 * px_per_cm, drop

    with open_source(str(clip)) as src:
        frame = src.read(1)
    out = {name: EditedFrameRenderer(model, rec).render(frame, 1, edited)
           for name, rec in (("plain", plain), ("corrected", corrected))}
    # between the plain and the corrected lower lip (driven, mouth centre) the corrected preview
    # shows the filled mouth where the plain one still shows lip: the fill follows the corrected lip
    x = int(round(faces["plain"][1].points[lip, 0]))
    y0 = int(round(faces["plain"][1].points[lip, 1])) + 1
    y1 = int(round(faces["corrected"][1].points[lip, 1])) - 1
    assert y1 - y0 >= 2
    band = (slice(y0, y1), slice(x - 3, x + 4))
    diff = np.abs(out["corrected"][band].astype(int) - out["plain"][band]).mean()
    assert diff > 5.0, diff  # measured 9.4 (up to 28 grey levels a row: interior against lip)
    # above the mouth the two previews agree but for the face's smooth extension (max 2 levels)
    top = int(faces["plain"][1].points[lip, 1]) - 40
    assert np.abs(out["corrected"][:top].astype(int) - out["plain"][:top]).max() <= 3
