"""One table of expression groups (core.model.arkit) for the sliders and for reenactment."""
from __future__ import annotations

import numpy as np

from core.model.arkit import GROUPS, OTHER, expression_group
from core.reenact.transfer import TransferSettings


def test_every_tracker_and_model_name_has_its_group():
    from core.tracking.landmarker import BLENDSHAPE_NAMES

    names = [n for n in BLENDSHAPE_NAMES if n != "_neutral"]
    assert len(names) == 51
    assert {expression_group(n) for n in names} == set(GROUPS)  # every group is used, nothing is "other"
    assert expression_group("cheekPuff") == expression_group("cheekPuffLeft") == "cheeks"
    assert expression_group("noseSneerLeft") == "nose" and expression_group("tongueOut") == "mouth"
    assert expression_group("browInnerUpRight") == "brows" and expression_group("jawOpen") == "jaw"
    assert expression_group("_neutral") == OTHER


def test_reenactment_uses_the_same_groups():
    """cheekPuff used to be 'mouth' in reenactment and 'cheeks' on the sliders: switching the
    cheeks off in reenactment now switches off exactly the sliders' cheeks group."""
    names = ["cheekPuff", "cheekSquintLeft", "mouthSmileLeft", "noseSneerLeft", "browInnerUp", "unknownShape"]
    s = TransferSettings(group_strength={g: (0.0 if g == "cheeks" else 1.0) for g in GROUPS})
    w = s.expression_weights(names)
    assert w.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert set(TransferSettings().group_strength) == set(GROUPS) == set(TransferSettings().neutral_percentile)


def test_the_slider_panel_groups_by_the_table(qapp):
    from widgets.expression_panel import GROUPS as PANEL_GROUPS
    from widgets.expression_panel import ExpressionPanel

    assert PANEL_GROUPS[:len(GROUPS)] == GROUPS
    panel = ExpressionPanel()
    names = ["cheekPuff", "mouthSmileLeft", "noseSneerLeft", "eyeBlinkLeft"]
    panel.set_components(names, np.tile([0.0, 1.0], (len(names), 1)))
    assert panel._group_rows["cheeks"] == ["cheekPuff"] and panel._group_rows["nose"] == ["noseSneerLeft"]
