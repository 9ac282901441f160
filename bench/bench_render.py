"""Renderer speed: NMFC + triangle-id/barycentric/depth buffers in one pass, ICT face
region and full mesh, 512x512, animated vertices (re-uploaded every frame).

Prints JSON: per configuration the median ms per frame for the whole render() call
(upload + draw + readback + numpy unpacking), the draw alone (glFinish-timed), and
the readback/unpack alone. Run: .venv/bin/python bench/bench_render.py [--frames 60]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ict import animation, load_ict, posed_frames  # noqa: E402
from core.render import OffscreenRenderer, RenderThread  # noqa: E402


def median_ms(ts):
    return round(1000 * float(np.median(ts)), 2)


def bench(renderer, model, size, frames, mode, buffers):
    renderer.set_mesh(model["triangles"], len(model["neutral"]), nmfc_mean=model["neutral"])
    expr, pose = animation(frames + 5)
    verts = [v for _, v in posed_frames(model, expr, pose, size, scale=size[0] / 30.0)]
    total, draw = [], []
    for i, v in enumerate(verts):
        if i == 5:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        out = renderer.render(v, size, mode, buffers=buffers)
        t1 = time.perf_counter()
        if i >= 5:
            total.append(t1 - t0)
    cpu_ms = 1000 * (time.process_time() - cpu0) / len(total)
    # the draw alone: same program and framebuffer, synchronised with glFinish
    ctx = renderer.ctx
    outputs = (mode != "none" and not (mode == "nmfc" and buffers), buffers, False)  # as render() picks
    vao = renderer._vao(outputs, buffers or mode in ("nmfc", "shaded_flat"))
    renderer._framebuffer(size[0], size[1], outputs).use()
    for v in verts[5:]:
        renderer._mesh.buffers["pos"].write(v)
        ctx.finish()
        t0 = time.perf_counter()
        vao.render()
        ctx.finish()
        draw.append(time.perf_counter() - t0)
    return {"triangles": int(len(model["triangles"])), "vertices": int(len(model["neutral"])),
            "size": list(size), "mode": mode, "buffers": buffers,
            "render_ms_median": median_ms(total), "render_cpu_ms_all_threads": round(cpu_ms, 2),
            "draw_only_ms_median": median_ms(draw),
            "upload_readback_unpack_ms_median": round(median_ms(total) - median_ms(draw), 2),
            "foreground_fraction": round(float(out.mask.mean()), 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    size = (args.size, args.size)
    r = OffscreenRenderer()  # no Qt in this process: the main thread is fine
    results = []
    for region in ("face", "full"):
        model = load_ict(region)
        for mode, buffers in (("nmfc", True), ("none", True), ("nmfc", False)):
            res = bench(r, model, size, args.frames, mode, buffers)
            res["region"] = region
            results.append(res)
    # Queue round trip of the RenderThread wrapper (what the GUI pays on top).
    model = load_ict("face")
    expr, pose = animation(args.frames)
    verts = [v for _, v in posed_frames(model, expr, pose, size, scale=size[0] / 30.0)]
    with RenderThread() as rt:
        rt.set_mesh(model["triangles"], len(model["neutral"]), nmfc_mean=model["neutral"])
        ts = []
        for v in verts:
            t0 = time.perf_counter()
            rt.render(v, size, "nmfc", buffers=True)
            ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = sum(1 for _ in rt.render_frames(iter(verts), size, "nmfc", buffers=True))
        stream = (time.perf_counter() - t0) / n
    print(json.dumps({"gl_renderer": r.gl_renderer, "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count(), "frames_per_config": args.frames, "results": results,
                      "render_thread_face_nmfc_ids_ms_median": median_ms(ts[5:]),
                      "render_thread_stream_face_nmfc_ids_ms_mean": round(1000 * stream, 2),
                      "target_ms": 10.0}, indent=1))


if __name__ == "__main__":
    main()
