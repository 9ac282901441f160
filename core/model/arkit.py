"""The one table of expression groups: which part of the face an ARKit-named expression
component belongs to. The expression sliders group their rows by it and reenactment's
per-group strengths and neutrals use it, so a component (``cheekPuff``, ``noseSneerLeft``)
is in the same group everywhere.

Names are matched by their ARKit prefix, so a model's own variants of the 52 ARKit names
(ICT's ``browInnerUpLeft`` and ``cheekPuffRight`` for ARKit's ``browInnerUp`` and ``cheekPuff``)
fall into the same group; a name with no known prefix is in :data:`OTHER`.
"""
from __future__ import annotations

#: the face's parts, in display order (the sliders' group headers, reenactment's group toggles)
GROUPS = ("brows", "eyes", "cheeks", "nose", "mouth", "jaw")
#: the group of a name the table does not know (not an ARKit name)
OTHER = "other"

#: ARKit name prefix -> group (the tongue moves with the mouth)
PREFIX_GROUPS = (("brow", "brows"), ("eye", "eyes"), ("cheek", "cheeks"), ("nose", "nose"),
                 ("mouth", "mouth"), ("jaw", "jaw"), ("tongue", "mouth"))


def expression_group(name: str) -> str:
    """The group (one of :data:`GROUPS`, or :data:`OTHER`) of an expression component's name."""
    n = str(name).lower()
    for prefix, group in PREFIX_GROUPS:
        if n.startswith(prefix):
            return group
    return OTHER
