"""3D ground truth for shape benchmarks: random Surrey-model faces with a real photo's texture.

The Surrey Face Model (``../shared/models/eos_sfm``, shape-only, 3448 vertices, mm, y up,
face towards +z; **comparison and test use only, non-commercial: never shipped**) gives
faces whose 3D shape is known exactly and that no FaceStudio model was built from. Each
identity (63 PCA coefficients drawn from N(0, 1), clipped to +-2.5) is rendered at a few
head poses with the skin of a real photo: eos fits its mean shape to the photo's 68
landmarks (from our tracker) and every vertex takes the photo's colour where that fit puts
it (``core.render`` textured mode, orthographic, 512 x 512, grey background). The faces
keep a neutral expression, so a fit of them should also show near-zero expressions; the
photos were chosen for a closed, relaxed mouth (MediaPipe's mouth/jaw/cheek/nose scores at
most 0.1 above its rest: s12, a photograph, and the portraits s0 and s4), but their eyes keep
the photo's gaze.

Everything here uses eos only to build the data; the reconstructions measured against it
come from FaceStudio's own tracker and fitter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SFM = SHARED / "models" / "eos_sfm"
TEXTURE_PHOTOS = ("portraits/stills/s12.jpg", "portraits/stills/s0.jpg", "portraits/stills/s4.jpg")
#: The issue's eight views: (yaw, pitch, roll) in degrees.
POSES = ((0, 0, 0), (-30, 0, 0), (-15, 0, 0), (15, 0, 0), (30, 0, 0), (0, 10, 0), (0, -10, 0), (0, 0, 10))
IMAGE_SIZE = 512
#: face height on screen: pixels per mm
PIXELS_PER_MM = 2.2


def ibug_to_sfm() -> dict[int, int]:
    """iBUG point (0-based) -> SFM vertex, for the points the mapping defines (the inner 51 and the chin)."""
    out = {}
    for line in (SFM / "ibug_to_sfm.txt").read_text().splitlines():
        m = re.match(r"\s*(\d+)\s*=\s*(\d+)", line)
        if m:
            out[int(m.group(1)) - 1] = int(m.group(2))
    return out


@dataclass
class SfmModel:
    mean: np.ndarray            # (N, 3) mm
    basis: np.ndarray           # (K, N, 3) mm per unit coefficient (one std)
    triangles: np.ndarray       # (T, 3) int


def load_sfm() -> SfmModel:
    import eos

    sm = eos.morphablemodel.load_model(str(SFM / "sfm_shape_3448.bin")).get_shape_model()
    mean = np.asarray(sm.get_mean(), np.float64).reshape(-1, 3)
    B = np.asarray(sm.get_rescaled_pca_basis(), np.float64)            # (3N, K)
    basis = B.T.reshape(B.shape[1], -1, 3)
    tri = np.asarray(sm.get_triangle_list(), np.int64)
    return SfmModel(mean, basis, tri)


def photo_texture(photo: Path):
    """(image RGB uint8, per-vertex pixel positions (N, 2)) of the SFM mesh fitted by eos to the
    photo's 68 landmarks (from our tracker's points at the built-in model's 68 vertices)."""
    import eos
    import imageio.v3 as iio

    from core.model.registry import load_model
    from core.tracking import track_image

    img = iio.imread(photo)[..., :3]
    tr = track_image(img)
    if not tr.valid[0]:
        raise RuntimeError(f"{photo}: no face for the texture")
    lm68 = tr.landmarks[0, load_model("builtin").landmarks68, :2]
    h, w = img.shape[:2]
    _, mesh, pose, _ = eos_fit_shape_and_pose((h, w), lm68)
    P = np.asarray(eos.fitting.get_3x4_affine_camera_matrix(pose, w, h))
    V = np.asarray(mesh.vertices, np.float64)
    uv = (np.hstack([V, np.ones((len(V), 1))]) @ P.T)[:, :2]
    return img, uv


def eos_fit_shape_and_pose(image_size, lm68: np.ndarray):
    """eos ``fit_shape_and_pose`` of the Surrey model (shape + its expression blendshapes, with
    its contour handling) on 68 iBUG landmarks (68, 2) px of an (H, W) image: (the morphable
    model, the fitted mesh, the rendering pose, the shape coefficients)."""
    import eos

    mm = eos.morphablemodel.load_model(str(SFM / "sfm_shape_3448.bin"))
    bs = eos.morphablemodel.load_blendshapes(str(SFM / "expression_blendshapes_3448.bin"))
    mm = eos.morphablemodel.MorphableModel(mm.get_shape_model(), bs, color_model=eos.morphablemodel.PcaModel(),
                                           vertex_definitions=None, texture_coordinates=mm.get_texture_coordinates())
    h, w = image_size
    mesh, pose, shape, _ = eos.fitting.fit_shape_and_pose(
        mm, [eos.core.Landmark(str(i + 1), [float(x), float(y)]) for i, (x, y) in enumerate(lm68)],
        eos.core.LandmarkMapper(str(SFM / "ibug_to_sfm.txt")), w, h,
        eos.morphablemodel.load_edge_topology(str(SFM / "sfm_3448_edge_topology.json")),
        eos.fitting.ContourLandmarks.load(str(SFM / "ibug_to_sfm.txt")),
        eos.fitting.ModelContour.load(str(SFM / "sfm_model_contours.json")))
    return mm, mesh, pose, shape


@dataclass
class SyntheticView:
    image: np.ndarray           # (H, W, 3) uint8
    vertices: np.ndarray        # (N, 3) mm, the face in model space (y up, +z forward), the truth
    identity: int
    pose_deg: tuple             # (yaw, pitch, roll)


def random_identity(sfm: SfmModel, rng: np.random.Generator) -> np.ndarray:
    c = np.clip(rng.standard_normal(sfm.basis.shape[0]), -2.5, 2.5)
    return sfm.mean + np.tensordot(c, sfm.basis, axes=1)


def render_views(sfm: SfmModel, vertices: np.ndarray, texture, poses=POSES, identity: int = 0,
                 renderer=None) -> list[SyntheticView]:
    """Render ``vertices`` (N, 3) mm with the photo ``texture`` (image, uv) at ``poses``."""
    from core.camera import euler_to_matrix
    from core.render import OffscreenRenderer

    own = renderer is None
    r = renderer or OffscreenRenderer(allow_main_thread=True)
    r.set_mesh(sfm.triangles.astype(np.int32), len(vertices))
    img, uv = texture
    out = []
    try:
        c = vertices.mean(0)
        for yaw, pitch, roll in poses:
            R = euler_to_matrix(np.radians(yaw), np.radians(pitch), np.radians(roll))
            scr = PIXELS_PER_MM * (vertices - c) @ R.T
            scr[:, :2] += IMAGE_SIZE / 2.0
            res = r.render(scr, (IMAGE_SIZE, IMAGE_SIZE), "textured", texture=img, source_pixels=uv,
                           background=(128, 128, 128), supersample=2)
            out.append(SyntheticView(res.image.copy(), vertices.copy(), identity, (yaw, pitch, roll)))
    finally:
        if own:
            r.release()
    return out


def synthetic_set(n_identities: int = 6, seed: int = 15, poses=POSES) -> list[SyntheticView]:
    """``n_identities`` random SFM faces x ``poses`` views (textures cycle over TEXTURE_PHOTOS)."""
    from core.render import OffscreenRenderer

    sfm = load_sfm()
    rng = np.random.default_rng(seed)
    textures = [photo_texture(SHARED / "data" / p) for p in TEXTURE_PHOTOS]
    r = OffscreenRenderer(allow_main_thread=True)
    views = []
    try:
        for i in range(n_identities):
            V = random_identity(sfm, rng)
            views += render_views(sfm, V, textures[i % len(textures)], poses, i, r)
    finally:
        r.release()
    return views
