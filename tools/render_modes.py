"""Render every mode of core/render and the flow colour codings to PNGs for a visual check.

Synthetic ICT-FaceKit animation (face region, expression + head pose), 512x512, plus a
frame of d6.mp4 for the textured / overlay modes: until a reconstruction exists the face
mesh is placed on that frame by a similarity fit to four hand-picked points (eye centres,
nose tip, mouth centre), so the textured views are a demonstration of the warp, not a fit.
Writes out/render_modes/*.png. Run: .venv/bin/python tools/render_modes.py

``--real`` renders the QA videos of the ``render`` and ``flow`` commands on the first
REAL_FRAMES frames of d6.mp4 with a real whole-video ICT reconstruction (bench/_common.py's
cached track and bench/bench_flow_evidence.py's cached fit, made here when out/cache has
none), through the same core/qa functions as the commands, and saves
frame REAL_SHOW of each as out/render_modes/real_<mode>.png (plus the mp4s).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _ict import ICT_NPZ, SHARED, animation, load_ict, posed_frames  # noqa: E402
from core.camera import FRONTAL, euler_to_matrix, project  # noqa: E402
from core.flow import clip_max_magnitude, dense_flow, flow2d_to_rgb, flow3d_to_rgb, legend_2d, legend_3d  # noqa: E402
from core.render import Lighting, OffscreenRenderer, RenderThread, ViewCamera, look_at, perspective  # noqa: E402
from core.render.encodings import id_false_colour, pncc_from_depth, to_uint8  # noqa: E402
from core.render.overlay import draw_landmarks, draw_reprojection_error, draw_wireframe, heat_legend  # noqa: E402

OUT = REPO / "out" / "render_modes"
SIZE = (512, 512)
# d6.mp4 frame 30: image positions picked by eye (pixels)
D6_POINTS = {"right_eye": (185.0, 230.0), "left_eye": (295.0, 230.0), "nose": (240.0, 290.0), "mouth": (240.0, 355.0)}


def save(name: str, rgb: np.ndarray) -> None:
    cv2.imwrite(str(OUT / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def fit_to_frame(model_pts: np.ndarray, image_pts: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and translation of a frontal scaled-orthographic camera (least squares)."""
    p = model_pts @ FRONTAL[:2].T
    pc, ic = p - p.mean(0), image_pts - image_pts.mean(0)
    s = float((pc * ic).sum() / (pc ** 2).sum())
    return s, image_pts.mean(0) - s * p.mean(0)


REAL_FRAMES = 60
REAL_SHOW = 40


def real_clip() -> None:
    """QA videos of d6 with a real reconstruction, one PNG per mode (see the module docstring)."""
    from _common import cached_track
    from bench_flow_evidence import cached_reconstruction
    from core.qa.flow_video import write_flow_video
    from core.qa.inputs import prepare
    from core.qa.render_video import MODES, write_render_video
    from core.video import open_source

    OUT.mkdir(parents=True, exist_ok=True)
    video = SHARED / "data" / "videos" / "d6.mp4"
    # the benches' caches (tracked again when core/tracking changes): a second run is quick
    track = cached_track(video, "d6")
    rec, _, _ = cached_reconstruction("d6", "ict", track)
    inp = prepare(video, rec, track, None, REAL_FRAMES)
    try:
        renderer = OffscreenRenderer()
        for mode in MODES:
            mp4 = OUT / f"real_{mode}.mp4"
            write_render_video(inp.source, inp.meshes, mp4, inp.frames, mode, track=inp.track, renderer=renderer)
            with open_source(str(mp4)) as v:
                save(f"real_{mode}", v.read(REAL_SHOW))
        mp4 = OUT / "real_flow.mp4"
        write_flow_video(inp.source, inp.meshes, mp4, inp.frames, 1, renderer=renderer)
        with open_source(str(mp4)) as v:
            save("real_flow", v.read(REAL_SHOW))
        renderer.release()
    finally:
        inp.source.close()
    print(f"wrote real-clip QA renders of d6 ({rec.model_name}, {inp.frames} frames) to {OUT}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    model = load_ict("face")
    full = load_ict("full")
    lm68 = np.load(ICT_NPZ)["landmarks68_multipie"]
    tri, n = model["triangles"], len(model["neutral"])
    expr, pose = animation(90, seed=2)
    frames = list(posed_frames(model, expr, pose, SIZE, scale=SIZE[0] / 30.0))
    t = 45
    shape_t, v_t = frames[t]
    with RenderThread() as rt:
        rt.set_mesh(tri, n, nmfc_mean=model["neutral"])
        save("shaded_smooth", rt.render(v_t, SIZE, "shaded", supersample=2).image)
        save("shaded_flat", rt.render(v_t, SIZE, "shaded_flat").image)
        out = rt.render(v_t, SIZE, "nmfc", buffers=True)
        save("nmfc", out.image)
        save("triangle_id", id_false_colour(out.triangle_id))
        save("mask", (out.mask[..., None] * np.array([255, 255, 255])).astype(np.uint8))
        save("barycentric", to_uint8(out.barycentric))
        all_depth = np.concatenate([f[1][:, 2] for f in frames])
        save("pncc", to_uint8(pncc_from_depth(out.depth, out.mask, (all_depth.min(), all_depth.max()))))
        fg_depth = out.depth[out.mask]
        near = np.where(out.mask, (fg_depth.max() - out.depth) / np.ptp(fg_depth), 0.0)  # white = close
        save("depth", to_uint8(near)[..., None].repeat(3, -1))

        # perspective 3D-viewport style view of the model-space shape, from the side
        cam = ViewCamera(look_at((30.0, 8.0, 45.0), (0.0, 0.0, 2.0)), perspective(np.radians(30), 1.0, 10, 200))
        save("perspective_shaded", rt.render(shape_t, SIZE, "shaded", view=cam, supersample=2,
                                             lighting=Lighting(direction=(0.4, 0.5, 1.0))).image)

        # dense 3D flow t -> t+1 and t -> t+5 with one normalisation per clip
        flows = [dense_flow(rt, frames[i][1], frames[i + 1][1], SIZE) for i in range(0, len(frames) - 1, 4)]
        rmax3 = clip_max_magnitude([f.flow for f in flows], [f.mask for f in flows], 99, 3)
        rmax2 = clip_max_magnitude([f.flow for f in flows], [f.mask for f in flows], 99, 2)
        f1 = dense_flow(rt, v_t, frames[t + 1][1], SIZE)
        save("flow3d_hsv_t_t+1", flow3d_to_rgb(f1.flow, rmax3, f1.mask))
        save("flow2d_middlebury_t_t+1", flow2d_to_rgb(f1.flow, rmax2, f1.mask))
        f5 = dense_flow(rt, v_t, frames[t + 5][1], SIZE)
        save("flow3d_hsv_t_t+5", flow3d_to_rgb(f5.flow, 5 * rmax3, f5.mask))
        save("legend_flow3d", legend_3d(200))
        save("legend_flow2d", legend_2d(200))

        # textured + overlays on a real frame
        cap = cv2.VideoCapture(str(SHARED / "data" / "videos" / "d6.mp4"))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
        ok, bgr = cap.read()
        cap.release()
        if ok:
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = frame.shape[:2]
            neutral = model["neutral"]
            mp = np.array([neutral[lm68[36:42]].mean(0), neutral[lm68[42:48]].mean(0), neutral[lm68[30]],
                           neutral[lm68[[48, 54]]].mean(0)])
            ip = np.array(list(D6_POINTS.values()))
            if (mp @ FRONTAL[0])[0] > (mp @ FRONTAL[0])[1]:   # match eyes by image side
                ip[[0, 1]] = ip[[1, 0]]
            s, tr = fit_to_frame(mp, ip)
            src = project(neutral, s, FRONTAL, tr)
            tex = rt.render(src, (w, h), "textured", texture=frame, source_pixels=src[:, :2])
            comp = frame.copy()
            comp[tex.mask] = (0.5 * tex.image[tex.mask] + 0.5 * 255 * np.array([0.2, 0.4, 1.0])).astype(np.uint8)
            save("textured_same_view_tinted", comp)
            views = (("textured_novel_view_yaw+25", np.radians(25)), ("textured_novel_view_yaw-25", -np.radians(25)))
            for name, yaw in views:
                novel = project(neutral, s, euler_to_matrix(yaw, 0.0, 0.0), tr)
                save(name, rt.render(novel, (w, h), "textured", texture=frame, source_pixels=src[:, :2],
                                     background=(40, 40, 40)).image)
            wf = draw_wireframe(frame, src, tri, colour=(0, 255, 0), alpha=0.3)
            save("wireframe_overlay", draw_landmarks(wf, src[lm68, :2], colour=(255, 40, 40), radius=2.5))
            err_img, vmax = draw_reprojection_error(frame, ip, project(mp, s, FRONTAL, tr)[:, :2], radius=4)
            leg = heat_legend(vmax, height=h // 2)
            err_img[:leg.shape[0], w - leg.shape[1]:] = leg
            save("reprojection_error_overlay", err_img)
        # full head mesh (eyes, teeth, mouth socket) shaded: checks depth order
        rt.set_mesh(full["triangles"], len(full["neutral"]), nmfc_mean=full["neutral"])
        fe = np.zeros(53, np.float32)
        fe[full["names"].index("jawOpen")] = 0.6
        shape = full["neutral"] + np.tensordot(fe, full["expression"], 1)
        vf = project(shape, 15.0, euler_to_matrix(0.35, 0.15, 0.0), np.array([256.0, 270.0]))
        save("full_head_shaded", rt.render(vf, SIZE, "shaded", supersample=2).image)
        save("full_head_nmfc", rt.render(vf, SIZE, "nmfc").image)
    print(f"wrote {len(list(OUT.glob('*.png')))} PNGs to {OUT}")


if __name__ == "__main__":
    if "--real" in sys.argv[1:]:
        real_clip()
    else:
        main()
