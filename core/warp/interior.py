"""The mouth interior of a still target from ICT's teeth, gums, tongue and mouth socket.

A still shows no teeth behind a closed mouth, so when the driven mouth opens we place
ICT-FaceKit's interior geometry under it and shade it with colours taken from the target:

1. ICT's camera and expression are fitted to the driven 478 points (the per-frame fitter of
   ``core.fitting.frame_fit`` on ICT's embedding of the tracker's points, mean identity,
   no state carried between frames, so the same points always give the same picture).
2. The interior is rigid with the skull except through the four jaw components (jawOpen,
   jawForward, jawLeft, jawRight), which carry the lower teeth, tongue and lower gums.
   The fitted camera places the upper part, the fitted jaw the lower part; a 2D offset per
   part, measured once on the target's own points (``MouthInterior.calibration``), makes up
   for ICT's mean face not matching the target's mouth.
3. The visible triangles are rasterised in the mouth's box (painter's algorithm) and shaded:
   Lambert from the camera's direction with a light from above (teeth nearly flat: enamel
   scatters), teeth an ivory scaled to the target's skin brightness, gums and tongue from the
   target's lip colour, the mouth socket a deep shadow of it; everything fades with depth
   behind the front teeth into the cavity colour (the tongue, facing the opening, slowly),
   more so when the lips are pursed forward.

The caller (``core.warp.mouth.fill_mouth``) clips the result by the driven inner-lip polygon.

Conventions: output pixels, origin top-left; model space ICT's (centimetres, y up, face
looking down +z); colours RGB floats 0-255.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from core.camera import project
from core.fitting.basis import basis_from_embedding
from core.fitting.frame_fit import FrameFitter
from core.fitting.settings import FitSettings
from core.fitting.weights import tracker_point_weights
from core.model.face_model import FaceModel
from core.warp.landmarks import INNER_LIPS
from core.warp.raster import SUBPIXEL_SHIFT

#: ICT's components that move the interior (all others leave it where the skull is)
JAW_COMPONENTS = ("jawOpen", "jawForward", "jawLeft", "jawRight")

#: the middle of the upper and lower inner lip (MediaPipe points): the incisors sit behind them;
#: the rest of the lips moves with smiles and stretches that leave the teeth where they are
UPPER_MIDDLE = (82, 13, 312)
LOWER_MIDDLE = (87, 14, 317)

#: ICT's components that push the lips forward, away from the teeth
PURSE_COMPONENTS = ("mouthPucker", "mouthFunnel")
#: how far (cm) the lips stand out at a full pucker/funnel: the interior is that much deeper
#: behind the opening, so it darkens (a pursed "o" shows a dark hole)
PURSE_DEPTH_CM = 1.5
#: pursing below this (ICT's pucker + funnel over the target's rest) is ignored: with the mean
#: identity the fit moves these components by ~0.3 on ordinary speech and smiles
PURSE_DEAD_ZONE = 0.3
#: how much deeper (cm) the teeth sink at teeth_show = 0 (pursed lips hide them in shadow)
HIDDEN_TEETH_DEPTH_CM = 4.0

#: materials, one per triangle
UPPER_TEETH, LOWER_TEETH, GUMS, TONGUE, SOCKET = range(5)

#: depth behind the front teeth (cm) over which the interior fades into the cavity colour
#: (exp(-depth / DEPTH_FADE_CM): the side teeth darken as in the mouth's corners, where little
#: light reaches), and the depth beyond which it is not drawn at all (faded to under 3 %: the
#: cavity colour alone is indistinguishable)
DEPTH_FADE_CM = 0.7
DRAW_DEPTH_CM = 2.5
#: the tongue is a big surface facing the opening, lit from it well behind the teeth: it fades
#: more slowly and is drawn deeper
TONGUE_FADE_CM = 15.0
TONGUE_DRAW_DEPTH_CM = 5.0
#: how far (cm, image plane) the lower part sits below ICT's place for it: ICT's lower incisors
#: show above the lower lip as soon as the jaw drops, where in speech a fuller lower lip mostly
#: covers them (they show once the lip is pulled down, as in a grin or a shout)
LOWER_DROP_CM = 0.2
#: the lower teeth are in the shadow of the upper jaw and lip (light comes from above)
LOWER_TEETH_SHADE = 0.75

#: ivory of teeth in daylight (RGB), before scaling to the target's brightness
IVORY = np.array([236.0, 230.0, 216.0])


@dataclass
class InteriorGeometry:
    """ICT's mouth interior, compacted.

    rest (V, 3) cm at the mean identity; jaw (4, V, 3) the deltas of ``JAW_COMPONENTS``;
    lower (V,) 0..1 how much a vertex moves with the jaw (1: lower teeth, tongue);
    triangles (T, 3) into rest; material (T,) one of the material constants;
    normals of the triangles are computed per frame (the jaw rotates the lower part).
    """

    rest: np.ndarray
    jaw: np.ndarray
    lower: np.ndarray
    triangles: np.ndarray
    material: np.ndarray
    front_z: float  # z (cm) of the front of the upper incisors


def interior_geometry(ict: FaceModel) -> InteriorGeometry:
    """The interior of an ICT FaceModel (regions "teeth", "gums_tongue", "mouth_interior")."""
    regions = ict.regions or {}
    if not all(k in regions for k in ("teeth", "gums_tongue", "mouth_interior")):
        raise ValueError(f"model {ict.name!r} has no teeth / gums_tongue / mouth_interior regions")
    teeth = np.asarray(regions["teeth"], bool)
    gums = np.asarray(regions["gums_tongue"], bool)
    inside = np.asarray(regions["mouth_interior"], bool)
    tri = np.asarray(ict.triangles)
    keep = inside[tri].all(1)
    tri = tri[keep]
    used = np.unique(tri)
    remap = -np.ones(ict.num_vertices, np.int64)
    remap[used] = np.arange(len(used))
    names = list(ict.expression_names)
    jaw = np.stack([np.asarray(ict.expression_basis[names.index(n)], np.float64)[used] for n in JAW_COMPONENTS])
    rest = np.asarray(ict.mean, np.float64)[used]
    move = np.linalg.norm(jaw[0], axis=1)
    lower = np.clip(move / max(float(move.max()), 1e-9), 0.0, 1.0)
    t = remap[tri]
    tri_lower = lower[t].mean(1) > 0.5
    mat = np.full(len(t), SOCKET, np.int8)
    in_teeth = teeth[tri].all(1)
    in_gums = gums[tri].all(1)
    mat[in_gums & ~tri_lower] = GUMS
    mat[in_gums & tri_lower] = TONGUE
    mat[in_teeth & ~tri_lower] = UPPER_TEETH
    mat[in_teeth & tri_lower] = LOWER_TEETH
    front_z = float(rest[np.unique(t[mat == UPPER_TEETH])][:, 2].max())
    depth = front_z - rest[t][:, :, 2].mean(1)  # the jaw moves things by < 1 cm in z
    near = depth < np.where(mat == TONGUE, TONGUE_DRAW_DEPTH_CM, DRAW_DEPTH_CM)
    return InteriorGeometry(rest, jaw, lower, t[near].astype(np.int32), mat[near], front_z)


@dataclass
class InteriorPose:
    """Where the interior goes in one output frame: ICT's camera (scale, rotation (3, 3),
    translation (2,)), the jaw weights (4,) and 2D shifts (2,) px of the upper and lower parts."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    jaw: np.ndarray
    shift_upper: np.ndarray
    shift_lower: np.ndarray
    #: mouthPucker + mouthFunnel beyond the target's own at rest: how far the lips stand out
    #: in front of the teeth
    pursing: float = 0.0


@dataclass
class Calibration:
    """A target's: offsets (2, 2) image-plane cm (x right, y down) of the upper and lower part;
    pursing: ICT's mouthPucker + mouthFunnel fitted to the target's rest."""

    offsets: np.ndarray
    pursing: float


class MouthInterior:
    """Places and shades ICT's mouth interior under a driven mouth. One per process is enough
    (``shared_interior``): it keeps no per-stream state but a few targets' calibrations, and it
    is thread-safe (the fitter is used under a lock)."""

    def __init__(self, ict: FaceModel):
        self.geometry = interior_geometry(ict)
        settings = FitSettings()
        basis = basis_from_embedding(ict)
        self._basis = basis
        names = list(ict.expression_names)
        bounds = np.array(ict.expression_bounds, np.float64)
        # the jaw's sideways and forward slides are not fitted: with the mean identity they absorb
        # the difference in chin shape and push the lower teeth out of the mouth
        for n in JAW_COMPONENTS[1:]:
            bounds[names.index(n)] = 0.0
        self._fitter = FrameFitter(basis, np.zeros(ict.num_identity), tracker_point_weights(basis.num_points, settings),
                                   bounds, settings)
        self._jaw_idx = np.array([names.index(n) for n in JAW_COMPONENTS])
        self._purse_idx = np.array([names.index(n) for n in PURSE_COMPONENTS])
        self._lock = threading.Lock()
        self._calib: dict[bytes, Calibration] = {}  # a few targets' calibrations, by their points

    def _fit(self, points: np.ndarray):
        obs = np.asarray(points, np.float64)[:, :2]
        with self._lock:
            self._fitter.reset()  # stateless: the same points always give the same placement
            fit = self._fitter.fit(obs)
        return obs, fit

    def calibration(self, rest_points: np.ndarray) -> "Calibration":
        """The target's calibration from its own points (478, 2): image-plane offsets that put
        ICT's lip middles, fitted to these points, on the target's lips, and how pursed ICT
        finds the target's mouth at rest.

        ICT's mean face differs from the target's (a longer upper lip, a chin...): measured once
        at the target's rest, where the lips are where the target's teeth are behind them, and
        carried to every driven frame, in which the teeth then move with the head and the jaw
        only (teeth do not follow a smile's lips)."""
        key = np.ascontiguousarray(np.round(np.asarray(rest_points, np.float64)[:, :2], 2)).tobytes()
        with self._lock:
            hit = self._calib.get(key)
        if hit is not None:
            return hit
        obs, fit = self._fit(rest_points)
        proj = project(self._basis.points(None, fit.expression), fit.scale, fit.rotation, fit.translation)[:, :2]
        res = (obs - proj) / fit.scale
        cal = Calibration(np.stack([res[list(UPPER_MIDDLE)].mean(0), res[list(LOWER_MIDDLE)].mean(0)]),
                          float(fit.expression[self._purse_idx].sum()))
        with self._lock:
            if len(self._calib) >= 8:  # a video target without retrieval calibrates every frame
                self._calib.clear()
            self._calib[key] = cal
        return cal

    def place(self, points: np.ndarray, rest_points: np.ndarray | None = None) -> InteriorPose:
        """Fit ICT to the driven points (478, 2) pixels; ``rest_points`` (478, 2) the target's
        own points for the calibration (None: no offsets)."""
        _, fit = self._fit(points)
        cal = self.calibration(rest_points) if rest_points is not None else Calibration(np.zeros((2, 2)), 0.0)
        pursing = max(float(fit.expression[self._purse_idx].sum()) - cal.pursing - PURSE_DEAD_ZONE, 0.0)
        return InteriorPose(fit.scale, fit.rotation, fit.translation, fit.expression[self._jaw_idx].copy(),
                            cal.offsets[0] * fit.scale,
                            (cal.offsets[1] + (0.0, LOWER_DROP_CM)) * fit.scale, pursing)

    def screen(self, pose: InteriorPose) -> tuple[np.ndarray, np.ndarray]:
        """(V, 3) x_px, y_px, depth of the interior vertices (larger depth = farther) and (V, 3)
        their model-space positions (cm)."""
        g = self.geometry
        V = g.rest + np.tensordot(pose.jaw, g.jaw, axes=1)
        S = project(V, pose.scale, pose.rotation, pose.translation)
        S[:, :2] += (1.0 - g.lower)[:, None] * pose.shift_upper + g.lower[:, None] * pose.shift_lower
        return S, V

    def render(self, points: np.ndarray, roi: tuple[int, int, int, int], skin: np.ndarray,
               lips: np.ndarray | None, cavity: np.ndarray, teeth_show: float = 1.0,
               rest_points: np.ndarray | None = None) -> np.ndarray:
        """The shaded interior in the ROI (x0, y0, x1, y1): (h, w, 3) float32 RGB 0-255.

        points: the driven 478 points (pixels); rest_points: the target's own (see
        ``calibration``); skin, lips (3,) the target's colours (lips
        None: derived from skin); cavity (h, w, 3) the background where no interior surface
        is seen (the shaded cavity); teeth_show 0..1: below 1 the teeth sink into the cavity's
        shadow (a mouth narrower than the target's at rest is pursed).
        """
        x0, y0, x1, y1 = roi
        h, w = y1 - y0, x1 - x0
        g = self.geometry
        pose = self.place(points, rest_points)
        S, V = self.screen(pose)
        S[:, :2] -= (x0, y0)
        tri = g.triangles
        xy = S[:, :2]
        a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
        cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        lo_xy, hi_xy = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
        inside = (hi_xy[:, 0] >= -1) & (lo_xy[:, 0] <= w) & (hi_xy[:, 1] >= -1) & (lo_xy[:, 1] <= h)
        # front faces are clockwise on the y-down screen (see warp.rasterize_triangle_ids)
        cand = np.flatnonzero(inside & (cross < -1e-6))
        # only what the opening shows is drawn: a triangle whose box misses the (slightly grown)
        # inner-lip polygon is behind the lips
        opening = np.zeros((h + 2, w + 2), np.uint8)
        lips_xy = np.asarray(points, np.float64)[list(INNER_LIPS), :2] - (x0 - 1, y0 - 1)
        cv2.fillPoly(opening, [np.round(lips_xy * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        opening = cv2.dilate(opening, np.ones((3, 3), np.uint8))
        integral = cv2.integral(opening)
        bx0 = np.clip(np.floor(lo_xy[cand, 0]).astype(int) + 1, 0, w + 2)
        by0 = np.clip(np.floor(lo_xy[cand, 1]).astype(int) + 1, 0, h + 2)
        bx1 = np.clip(np.ceil(hi_xy[cand, 0]).astype(int) + 2, 0, w + 2)
        by1 = np.clip(np.ceil(hi_xy[cand, 1]).astype(int) + 2, 0, h + 2)
        covered = integral[by1, bx1] - integral[by0, bx1] - integral[by1, bx0] + integral[by0, bx0]
        order = cand[covered > 0]
        depth = S[tri[order], 2].mean(1)
        order = order[np.argsort(-depth, kind="stable")]  # far first, near overwrite
        ids = np.full((h, w), -1, np.int32)
        pts = np.round(xy[tri[order]] * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
        fill, line = cv2.fillConvexPoly, cv2.LINE_8
        for k, p in enumerate(list(pts)):  # ids index ``order``
            fill(ids, p, (k,), line, SUBPIXEL_SHIFT)
        # per-triangle shading (drawn triangles only): normals in camera space (x right, y down,
        # z away from the camera)
        tri = tri[order]
        material = g.material[order]
        Vt = V[tri]
        n = np.cross(Vt[:, 1] - Vt[:, 0], Vt[:, 2] - Vt[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        nc = n @ np.asarray(pose.rotation).T  # facing the camera: nc[:, 2] < 0
        # a light at the camera and one from above (the upper lip and palate shade the rest)
        light = np.clip(-nc[:, 2], 0.0, 1.0) * 0.8 + np.clip(-nc[:, 1], 0.0, 1.0) * 0.2
        shade = np.minimum(0.45 + 0.6 * light, 1.0)
        shade[material == TONGUE] = np.maximum(shade[material == TONGUE], 0.8)  # it faces up, into the light
        # enamel scatters light inside the tooth: a tooth is evenly bright, whichever way its
        # small facets (a pixel or less here) face
        teeth_tri = (material == UPPER_TEETH) | (material == LOWER_TEETH)
        shade[teeth_tri] = 0.75 + 0.25 * light[teeth_tri]
        # depth behind the front teeth darkens into the cavity (0.5 cm behind: about half)
        behind = np.clip(g.front_z - Vt[:, :, 2].mean(1), 0.0, None) + PURSE_DEPTH_CM * pose.pursing
        hidden = (1.0 - float(np.clip(teeth_show, 0.0, 1.0))) * HIDDEN_TEETH_DEPTH_CM
        behind = behind + hidden * teeth_tri
        fade = np.exp(-behind / np.where(material == TONGUE, TONGUE_FADE_CM, DEPTH_FADE_CM))
        skin = np.asarray(skin, np.float64)
        lip = np.asarray(lips, np.float64) if lips is not None else skin * np.array([1.0, 0.75, 0.78])
        # teeth are brighter than skin under the same light (enamel's albedo is higher): an ivory
        # about 1.7x the skin's mean brightness, tinted a little by the light off the lips
        teeth = IVORY * float(np.clip(skin.mean() / 120.0, 0.45, 1.1)) * 0.9 + 0.1 * lip
        colour = np.empty((len(tri), 3))
        gum = np.minimum(lip * np.array([1.1, 0.85, 0.85]), 255.0)  # gums: the lips' colour, pinker
        colour[:] = lip * 0.3
        colour[material == GUMS] = gum
        colour[material == TONGUE] = np.minimum(lip * np.array([1.0, 0.92, 1.0]), 255.0)  # a paler pink
        colour[material == UPPER_TEETH] = teeth
        colour[material == LOWER_TEETH] = teeth * LOWER_TEETH_SHADE
        tri_rgb = colour * (shade * fade)[:, None]
        seen = ids >= 0
        out = np.array(cavity, np.float32, copy=True)
        if seen.any():
            k = ids[seen]
            cav = out[seen]
            f = fade[k][:, None]
            out[seen] = (tri_rgb[k] + (1 - f) * cav).astype(np.float32)
        # triangles are about a pixel: a slight blur instead of antialiasing (no stair-stepped
        # tooth edges, no speckle from sliver triangles)
        return cv2.GaussianBlur(out, (3, 3), 0.6)


# -- one interior per process, loaded in the background --------------------------------------
_shared_lock = threading.Lock()
_shared_ready = threading.Event()
_shared: dict = {}


def _load_shared() -> None:
    try:
        from core.model.registry import load_model
        _shared["interior"] = MouthInterior(load_model("ict"))
    except Exception as exc:  # noqa: BLE001 (no ICT here, or a broken file: the synthetic cavity)
        _shared["interior"] = None
        _shared["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        _shared_ready.set()


def preload_interior() -> None:
    """Start loading ICT's interior in a background thread (once per process): a renderer calls
    this when it is built, so the first open mouth does not wait for the 0.8 s load."""
    with _shared_lock:
        if _shared.get("started"):
            return
        _shared["started"] = True
    threading.Thread(target=_load_shared, name="mouth-interior-load", daemon=True).start()


def shared_interior() -> MouthInterior | None:
    """The process's MouthInterior (waits for the load); None when ICT cannot be loaded
    (``interior_load_error()`` says why)."""
    preload_interior()
    _shared_ready.wait()
    return _shared.get("interior")


def interior_load_error() -> str | None:
    """Why ICT's interior could not be loaded (type and message), or None."""
    return _shared.get("error")
