"""Following one face across frames when the detector sees several, and deciding
where a track is lost or jumps.

The rule follows the seed thesis' false-detection removal (seeds-digest-thesis.md,
"False-detection removal by tracking"): follow the face found first (here the
largest one), keep a detection only while it stays within half a face width of
where the followed face was, and give up after K = 5 missed frames.

Decisions per frame, given the faces found (detector order is ignored):

- no followed face yet: take the largest face and start a segment;
- the face nearest to the followed face's last position is within the gate
  (half a face width, widened a little per missed frame): it is the followed face;
  after a miss of up to K frames it continues the segment (the gap is bridged
  later), after a longer miss it starts a new segment;
- nothing within the gate:
  - a jump when the only face on screen is the one face that was on screen
    before (one face then, one face now, far apart): new segment at once;
  - otherwise the followed face counts as missed (it may be occluded while
    another person stays visible); after K misses the largest face present
    starts a new segment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Frames a face may be missing and still be bridged (the seed thesis' K).
MAX_BRIDGE_FRAMES = 5
#: Gate radius in face widths: a detection farther than this from the followed
#: face's last position is not the followed face (the thesis uses half the box width).
GATE_FACE_WIDTHS = 0.5


def face_box(landmarks: np.ndarray) -> np.ndarray:
    """Bounding box ``(x0, y0, x1, y1)`` of one face's ``(478, 3)`` landmarks, in pixels."""
    xy = landmarks[:, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float64)


def box_center_width(box: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (2,) and width of a box (x0, y0, x1, y1) in pixels."""
    return (box[:2] + box[2:]) / 2.0, float(box[2] - box[0])


@dataclass
class Choice:
    """The selector's decision for one frame.

    index : which of the frame's faces is the followed face, or -1 (none)
    segment : the followed face's segment id (meaningful when index >= 0)
    new_segment : this frame starts a new segment
    """

    index: int
    segment: int
    new_segment: bool


class FaceSelector:
    """Online face selection: feed the faces of each frame in order."""

    def __init__(self, max_bridge: int = MAX_BRIDGE_FRAMES, gate: float = GATE_FACE_WIDTHS):
        self.max_bridge = max_bridge
        self.gate = gate
        self.segment = -1
        self._box: np.ndarray | None = None   # last box of the followed face
        self._n_faces_then = 0                  # faces on screen when it was last seen
        self._missed = 0                        # frames since it was last seen

    def reset(self) -> None:
        """Forget the followed face (the next frame's largest face is followed)."""
        self.__init__(self.max_bridge, self.gate)

    def choose(self, landmarks: np.ndarray) -> Choice:
        """``landmarks``: (n, 478, 3) every face found in this frame (n may be 0)."""
        n = int(landmarks.shape[0])
        if n == 0:
            self._missed += 1
            return Choice(-1, self.segment, False)
        boxes = np.stack([face_box(f) for f in landmarks])
        if self._box is None:
            return self._start(boxes, n)

        center, width = box_center_width(self._box)
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        dist = np.linalg.norm(centers - center, axis=1)
        best = int(np.argmin(dist))
        # A face missing for a few frames may have moved on meanwhile: widen the gate.
        radius = self.gate * width * (1.0 + 0.5 * self._missed)
        if dist[best] <= radius:
            new = self._missed > self.max_bridge
            if new:
                self.segment += 1
            self._follow(boxes[best], n)
            return Choice(best, self.segment, new)
        if n == 1 and self._n_faces_then == 1:
            return self._start(boxes, n)            # the one face jumped: split now
        self._missed += 1
        if self._missed > self.max_bridge:
            return self._start(boxes, n)            # followed face gone: take the largest
        return Choice(-1, self.segment, False)

    def _start(self, boxes: np.ndarray, n: int) -> Choice:
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        k = int(np.argmax(area))
        self.segment += 1
        self._follow(boxes[k], n)
        return Choice(k, self.segment, True)

    def _follow(self, box: np.ndarray, n: int) -> None:
        self._box = box
        self._n_faces_then = n
        self._missed = 0
