"""The warp renderer's settings (what ``WarpRenderer``, ``dense_warp`` and the fills read)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WarpSettings:
    """falloff: distance beyond the face (in face sizes) over which motion fades to zero.
    work_scale: the extension is computed at 1/work_scale resolution (it is smooth)."""

    falloff: float = 0.15
    #: distance (face sizes) over which the face's non-rigid motion fades into the rigid head motion
    detail_falloff: float = 0.1
    work_scale: int = 4
    #: the fades are never shorter than this many times the motion they fade (a fade over D
    #: of a motion m stretches by up to 1.5 m / D: above 1.5 the map cannot fold)
    fold_guard: float = 2.0
    #: the face slides over hair and background: its own (non-rigid) motion is not faded
    #: into them with a fold guard; what it uncovers is filled from beside the target's face
    occlusion: bool = True
    #: the head's rigid motion beyond the face fades out downwards, from the eyes' level (full)
    #: to the chin's (none): the neck, shoulders and hair hanging beside the jaw belong to the
    #: body, which a nod or turn of the head does not move (the face's own motion still carries
    #: over its edge, so nothing tears)
    neck_release: bool = True
    #: depth (cm behind the rest face's glabella) at which the head's rigid motion beyond the face
    #: is measured: the rest face outline's points are moved back onto this plane before the
    #: similarity between the two images is fitted (``core.warp.rigid.head_motion``). None:
    #: on the face itself. What surrounds the face (hair at the sides and top, ears) is nearer the
    #: plane through the head's centre than the face's front: in a nod the face moves down while
    #: the ears and the hair's outline barely move, which a similarity of the face's own outline
    #: cannot tell from the whole head moving down. 9.5: half a head's length (about 19 cm from
    #: the glabella to the back of the skull); the face's outline beside the ears (MediaPipe
    #: 234/454) is 7.8 cm behind the glabella in both the built-in model and ICT
    outline_depth: float | None = 9.5
    #: the rim of a filled mouth (the pixel outside the driven inner-lip polygon that the fill's
    #: mask reaches): "fill" (the fill's own: the target's mean lip colour for a still) or
    #: "target" (the warped target pixels: the target's own inner lip edge, in its own shadow,
    #: stays where the warp put it, instead of a flat lighter ring; see
    #: ``core.warp.mouth.fill_mouth``)
    mouth_rim: str = "target"
    mouth_fill: bool = True
    #: a still target's mouth interior: "ict" (ICT's teeth, gums and tongue, shaded; the
    #: synthetic cavity if ICT cannot be loaded) or "synthetic" (a shaded cavity with teeth bands)
    mouth_interior: str = "ict"
    gaze: bool = True
