"""Attribute transfer: the source's expression, head pose and gaze applied to the target.

Seed 001 / thesis chapter 7 (Head2Head++): the driven target mesh keeps the
target's identity and takes the source's expression, camera and eyes. As in the
seeds the target's identity is one vector for the whole target (a still has one
frame; a video's fit has one identity per clip).

Everything here is relative, so that people with different faces, rest
expressions and framings drive each other sensibly:

- expression: ``target_neutral + (source[t] - source_neutral)``, where a person's
  neutral is a low percentile of each expression weight over their frames (a person
  who rests with a slight smile does not pass the smile on);
- pose: the source's rotation, scale change and translation relative to its
  reference frame (the first valid frame), applied on top of the target's
  reference pose; translation is carried in units of the face size;
- gaze: the iris centre in an eye frame spanned by the eye corners (unit = eye
  width), relative to the person's median gaze.

In ``self`` mode (source = target, e.g. evaluation) nothing needs relating: the
driven face is the source's own fit (identity, expression, camera, gaze, detail)
taken as is (not smoothed over time unless ``smooth_sigma`` asks for it).

Shapes: expression (F, Ke), rotation (F, 3, 3) model -> camera, translation (F, 2)
pixels, scale (F,) pixels per cm, gaze (F, 2, 2) = [eye (right, left), (x, y)].
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp

from core.camera import OrthoCamera, nearest_rotation
from core.model.arkit import GROUPS, expression_group
from core.warp.landmarks import gaze_from_landmarks

MODES = ("head", "face", "self")


@dataclass
class TransferSettings:
    """What is transferred and how strongly (all strengths in [0, 1], 1 = fully).

    mode: "head" (expression + pose + gaze), "face" (expression + gaze; the target
    keeps its own head pose) or "self" (source = target: every attribute relative
    to the source frame the target shows).
    """

    mode: str = "head"
    expression: bool = True
    pose: bool = True
    gaze: bool = True
    expression_strength: float = 1.0
    pose_strength: float = 1.0
    gaze_strength: float = 1.0
    #: per expression group (``core.model.arkit.GROUPS``); a group not named here: 1
    group_strength: dict[str, float] = field(default_factory=lambda: {g: 1.0 for g in GROUPS})
    #: a person's neutral per expression group: a low percentile over the clip for what is
    #: off at rest (mouth, jaw, cheeks, nose: talking opens and moves them, a resting smile
    #: stays below the 5th percentile of a talk); None = the reference (first valid) frame,
    #: for what is used both ways around rest (eyes widen and squint, brows rise and frown).
    #: A group not named here: 5.
    neutral_percentile: dict[str, float | None] = field(
        default_factory=lambda: {"brows": None, "eyes": None, "cheeks": 5.0, "nose": 5.0, "mouth": 5.0, "jaw": 5.0})
    #: driven expressions may leave the model's box by this much: relative motion near a
    #: bound (a target resting at eyeWide = 1 whose source narrows the eyes) is kept
    bounds_margin: float = 0.5
    #: also transfer the landmark detail the model cannot express (tracked minus fitted
    #: points, relative to the neutral), with the expression
    detail: bool = True
    #: temporal smoothing of the source's parameters (offline, Gaussian sigma in frames; 0 = none).
    #: None: 0.8 in head and face mode (hides the tracker's jitter in another person's face),
    #: none in self mode, which takes the source's own fit as is: there the target is the
    #: source's own picture, fitted unsmoothed, so a smoothed driven face would move it by the
    #: smoothing's residual (the face points by 0.04-0.18 px on average, up to 3.5 px, on d3,
    #: d9, d10 and d14; a video target would wobble against its own background)
    smooth_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown reenactment mode {self.mode!r}; use one of {', '.join(MODES)}")

    @property
    def smoothing(self) -> float:
        """The temporal smoothing actually applied (frames): ``smooth_sigma`` or its mode's default."""
        if self.smooth_sigma is not None:
            return float(self.smooth_sigma)
        return 0.0 if self.mode == "self" else 0.8

    @property
    def use_expression(self) -> bool:
        return self.expression and self.expression_strength > 0

    @property
    def use_pose(self) -> bool:
        return self.pose and self.pose_strength > 0 and self.mode != "face"

    @property
    def use_gaze(self) -> bool:
        return self.gaze and self.gaze_strength > 0

    def expression_weights(self, names) -> np.ndarray:
        """(Ke,) per-component strength from the global and the group strengths."""
        w = np.full(len(names), float(self.expression_strength) if self.expression else 0.0)
        for i, n in enumerate(names):
            w[i] *= float(self.group_strength.get(expression_group(n), 1.0))
        return np.clip(w, 0.0, 1.0)

    def with_changes(self, **changes) -> "TransferSettings":
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_attributes(cls, attributes: str | list[str], mode: str = "head") -> "TransferSettings":
        """From a list like "expression,pose,gaze" (the command line's --transfer)."""
        items = [a.strip().lower() for a in (attributes.split(",") if isinstance(attributes, str) else attributes)]
        items = [a for a in items if a]
        known = {"expression", "pose", "gaze"}
        bad = [a for a in items if a not in known]
        if bad:
            raise ValueError(f"unknown attribute(s) {', '.join(bad)}; use expression, pose, gaze")
        return cls(mode=mode, expression="expression" in items, pose="pose" in items, gaze="gaze" in items)


@dataclass
class FaceState:
    """One face in one frame: expression (Ke,), rotation (3,3), translation (2,),
    scale (pixels per cm), gaze (2,2) = [right, left eye] x (x, y) in eye-width units."""

    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    gaze: np.ndarray
    #: (L, 2) tracked points minus the fitted model's points, divided by the scale (cm in
    #: the image plane): the detail of the expression the model cannot express. None = 0.
    residual: np.ndarray | None = None

    @property
    def camera(self) -> OrthoCamera:
        """The state's camera (``core.camera.OrthoCamera``, sharing the state's arrays)."""
        return OrthoCamera(self.scale, self.rotation, self.translation)

    def copy(self) -> "FaceState":
        """A copy that shares no array with this state."""
        return FaceState(self.expression.copy(), self.rotation.copy(), self.translation.copy(),
                         float(self.scale), self.gaze.copy(),
                         None if self.residual is None else self.residual.copy())


@dataclass
class FaceSequence:
    """A fitted face over F frames (the parts of a Reconstruction transfer needs).

    identity (Ki,), expression (F, Ke), rotation (F, 3, 3), translation (F, 2),
    scale (F,), gaze (F, 2, 2), valid (F,) bool; residual (F, L, 2) or None (see FaceState).
    """

    identity: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    gaze: np.ndarray
    valid: np.ndarray
    residual: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.expression.shape[0])

    def frame(self, i: int) -> FaceState:
        """Frame ``i`` as a :class:`FaceState` (copies)."""
        return FaceState(self.expression[i].copy(), self.rotation[i].copy(), self.translation[i].copy(),
                         float(self.scale[i]), self.gaze[i].copy(),
                         None if self.residual is None else self.residual[i].copy())

    @classmethod
    def from_reconstruction(cls, rec, landmarks: np.ndarray | None = None,
                            valid: np.ndarray | None = None) -> "FaceSequence":
        """From a core.fitting Reconstruction (identity, expression, rotation, translation,
        scale) plus the tracker's landmarks (F, 478, >=2) for the gaze."""
        E = np.asarray(rec.expression, np.float64)
        F = E.shape[0]
        if valid is None:
            valid = getattr(rec, "valid", None)
        valid = np.ones(F, bool) if valid is None else np.asarray(valid, bool).copy()
        gaze = np.zeros((F, 2, 2))
        if landmarks is not None:
            g, ok = gaze_from_landmarks(np.asarray(landmarks))
            gaze = np.where(ok[..., None], g, np.nan)
        seq = cls(identity=np.asarray(rec.identity, np.float64).copy(), expression=E.copy(),
                  rotation=np.asarray(rec.rotation, np.float64).copy(),
                  translation=np.asarray(rec.translation, np.float64).copy(),
                  scale=np.asarray(rec.scale, np.float64).copy(), gaze=gaze, valid=valid)
        valid &= np.isfinite(seq.expression).all(1) & np.isfinite(seq.scale) & (seq.scale > 0)
        seq.valid = valid
        return seq.filled()

    def filled(self) -> "FaceSequence":
        """Invalid frames hold the last good parameters (leading ones take the first good).

        Gaze that is unreliable (NaN) in a valid frame also holds its last good value.
        """
        out = dataclasses.replace(self, expression=self.expression.copy(), rotation=self.rotation.copy(),
                                  translation=self.translation.copy(), scale=self.scale.copy(),
                                  gaze=self.gaze.copy(), valid=self.valid.copy(),
                                  residual=None if self.residual is None else self.residual.copy())
        if not out.valid.any():
            return out
        idx = _hold_index(out.valid)
        for name in ("expression", "rotation", "translation", "scale", "gaze", "residual"):
            a = getattr(out, name)
            if a is not None:
                setattr(out, name, a[idx].copy())
        if out.residual is not None:
            out.residual = np.nan_to_num(out.residual)
        g_ok = np.isfinite(out.gaze).all(axis=(1, 2))
        if g_ok.any():
            out.gaze = out.gaze[_hold_index(g_ok)]
        else:
            out.gaze = np.zeros_like(out.gaze)
        return out

    def smoothed(self, sigma: float) -> "FaceSequence":
        """Zero-phase Gaussian smoothing over time (sigma in frames); rotations re-orthonormalised."""
        if sigma <= 0 or len(self) < 3:
            return self
        f = lambda a: gaussian_filter1d(a, sigma, axis=0, mode="nearest")  # noqa: E731
        R = f(self.rotation)
        R = np.stack([nearest_rotation(r) for r in R])
        return dataclasses.replace(self, expression=f(self.expression), rotation=R,
                                   translation=f(self.translation), scale=f(self.scale), gaze=f(self.gaze),
                                   residual=None if self.residual is None else f(self.residual))


def _hold_index(ok: np.ndarray) -> np.ndarray:
    """Index of the last True at or before each position (first True before it)."""
    idx = np.where(ok, np.arange(len(ok)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(ok)[0])
    return idx


@dataclass
class Reference:
    """A person's rest state that motion is measured from (a FaceState)."""

    state: FaceState


def reference_of(seq: FaceSequence, settings: TransferSettings, frame: int | None = None,
                 expression_names=None) -> Reference:
    """Neutral expression / reference pose / rest gaze of a sequence.

    ``frame`` given (self mode, or a still): everything is that frame's. Otherwise
    expression = a percentile per expression group (``settings.neutral_percentile``) over
    valid frames, pose and detail = first valid frame, gaze = median over valid frames.
    """
    ok = np.flatnonzero(seq.valid)
    if ok.size == 0:
        raise ValueError("the sequence has no valid frame")
    if frame is not None:
        return Reference(seq.frame(int(frame)))
    first = int(ok[0])
    st = seq.frame(first)
    names = expression_names if expression_names is not None else [""] * seq.expression.shape[1]
    E = seq.expression[ok]
    for k, n in enumerate(names):
        pct = settings.neutral_percentile.get(expression_group(n), 5.0)
        if pct is not None:
            st.expression[k] = np.percentile(E[:, k], pct)
    st.gaze = np.median(seq.gaze[ok], axis=0)
    # detail (residual) stays the reference frame's: a clip-wide statistic would mix the
    # eyes' rest with squints and blinks
    return Reference(st)


def _slerp(Ra: np.ndarray, Rb: np.ndarray, w: float) -> np.ndarray:
    if w >= 1.0:
        return Rb
    if w <= 0.0:
        return Ra
    return Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([Ra, Rb])))([w]).as_matrix()[0]


def transfer_state(src: FaceState, src_ref: Reference, tgt: FaceState, tgt_ref: Reference,
                   settings: TransferSettings, expression_names, expression_bounds=None) -> FaceState:
    """The driven target state for one frame.

    src: the source at this frame; src_ref: the source's neutral/reference.
    tgt: the target at the frame being rendered (a still: its only frame);
    tgt_ref: the target's neutral/reference. Attributes that are off keep ``tgt``'s
    own values; strengths interpolate between ``tgt`` and the fully driven value.
    """
    out = tgt.copy()
    s_ref, t_ref = src_ref.state, tgt_ref.state
    if settings.mode == "self":  # absolute: the reference maps onto itself
        s_ref, t_ref = src, src
    if settings.use_expression:
        full = t_ref.expression + (src.expression - s_ref.expression)
        w = settings.expression_weights(expression_names)
        e = tgt.expression + w * (full - tgt.expression)
        if expression_bounds is not None:
            b = np.asarray(expression_bounds)
            m = float(settings.bounds_margin)
            e = np.clip(e, b[:, 0] - m, b[:, 1] + m)
        out.expression = e
        if settings.detail and src.residual is not None and s_ref.residual is not None:
            base = tgt.residual if tgt.residual is not None else np.zeros_like(src.residual)
            ref = t_ref.residual if t_ref.residual is not None else np.zeros_like(src.residual)
            full_r = ref + (src.residual - s_ref.residual)
            out.residual = base + float(np.clip(settings.expression_strength, 0, 1)) * (full_r - base)
    if settings.use_pose:
        R_rel = src.rotation @ s_ref.rotation.T
        R_full = R_rel @ t_ref.rotation
        ratio = src.scale / s_ref.scale
        s_full = t_ref.scale * ratio
        # translation in units of the face size: source pixels -> target pixels
        t_full = t_ref.translation + (src.translation - s_ref.translation) * (t_ref.scale / s_ref.scale)
        w = float(np.clip(settings.pose_strength, 0, 1))
        out.rotation = nearest_rotation(_slerp(tgt.rotation, R_full, w))
        out.scale = float(tgt.scale * (s_full / tgt.scale) ** w)
        out.translation = tgt.translation + w * (t_full - tgt.translation)
    if settings.use_gaze:
        full = t_ref.gaze + (src.gaze - s_ref.gaze)
        w = float(np.clip(settings.gaze_strength, 0, 1))
        out.gaze = tgt.gaze + w * (full - tgt.gaze)
    return out


def transfer_sequence(source: FaceSequence, target: FaceSequence, settings: TransferSettings,
                      expression_names, expression_bounds=None, target_frames: np.ndarray | None = None
                      ) -> FaceSequence:
    """Driven target states for every source frame (offline).

    target_frames (F,) int: which target frame each output frame shows (a still: all 0;
    a video: ``t mod len(target)``). Source gaps hold the last good parameters.
    Returns a FaceSequence with the target's identity (self mode: the source's).
    """
    src = source.filled().smoothed(settings.smoothing)
    tgt = target.filled()
    F = len(src)
    if target_frames is None:
        target_frames = np.arange(F) % len(tgt)
    src_ref = reference_of(src, settings, expression_names=expression_names)
    tgt_ref = reference_of(tgt, settings, frame=0 if len(tgt) == 1 else None, expression_names=expression_names)
    states = [transfer_state(src.frame(i), src_ref, tgt.frame(int(target_frames[i])), tgt_ref, settings,
                             expression_names, expression_bounds) for i in range(F)]
    return FaceSequence(
        identity=(src if settings.mode == "self" else tgt).identity.copy(),
        expression=np.stack([s.expression for s in states]),
        rotation=np.stack([s.rotation for s in states]),
        translation=np.stack([s.translation for s in states]),
        scale=np.array([s.scale for s in states]),
        gaze=np.stack([s.gaze for s in states]),
        valid=np.ones(F, bool),
        residual=None if states[0].residual is None else np.stack([s.residual for s in states]),
    )
