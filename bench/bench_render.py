"""Renderer speed: NMFC + triangle-id/barycentric buffers in one pass, ICT face region and
full mesh, 512x512, animated vertices (re-uploaded every frame).

Prints JSON: per configuration the mesh size, the resolution, what the GPU wrote and was
read back (bytes per frame), the median ms per frame for the whole render() call (upload
+ draw + readback + numpy unpacking), the clear + draw alone (glFinish-timed), the rest
(upload, readback, unpacking), process CPU ms per frame (all threads, less sensitive to
other jobs on the machine), and the on-demand costs of ``barycentric`` and ``depth``
(unpacked / interpolated on the CPU on first access, not part of render()).
Run: .venv/bin/python bench/bench_render.py [--frames 60]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import _common  # noqa: F401  (the repository on sys.path)
from _ict import animation, load_ict, posed_frames
from core.render import OffscreenRenderer, RenderThread


# llvmpipe's first ~10 frames are slower (scene/bin memory, shader variants): skip them.
WARMUP = 15


def median_ms(ts):
    return round(1000 * float(np.median(ts)), 2)


def read_back(mode: str, buffers: bool) -> str:
    """What render() writes on the GPU and reads back for this configuration."""
    outputs, _ = OffscreenRenderer.pass_layout(mode, buffers, False)
    parts = []
    if outputs[0]:
        parts.append("RGBA8 colour target read as RGB8")
    if outputs[1]:
        parts.append("RG32UI id target (triangle id + 1, two unorm16 barycentrics)")
    if mode == "nmfc":
        parts.append("NMFC image = per-triangle palette lookup of the ids on the CPU")
    if buffers:
        parts.append("depth not read back (interpolated from the barycentrics on access)")
    return "; ".join(parts)


def bench(renderer, model, size, frames, mode, buffers):
    renderer.set_mesh(model["triangles"], len(model["neutral"]), nmfc_mean=model["neutral"])
    expr, pose = animation(frames + WARMUP)
    verts = [v for _, v in posed_frames(model, expr, pose, size, scale=size[0] / 30.0)]
    total, draw, lazy_bary, lazy_depth = [], [], [], []
    for i, v in enumerate(verts):
        if i == WARMUP:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        out = renderer.render(v, size, mode, buffers=buffers)
        t1 = time.perf_counter()
        if i >= WARMUP:
            total.append(t1 - t0)
    cpu_ms = 1000 * (time.process_time() - cpu0) / len(total)
    readback_bytes = renderer.last_readback_bytes
    if buffers:   # on-demand unpacking, paid only by callers that read these
        for v in verts[WARMUP:]:
            out = renderer.render(v, size, mode, buffers=buffers)
            t0 = time.perf_counter()
            out.barycentric
            t1 = time.perf_counter()
            out.depth
            lazy_bary.append(t1 - t0)
            lazy_depth.append(time.perf_counter() - t1)
    # the clear + draw alone: same program and framebuffer, synchronised with glFinish
    # (without the clear, the previous frame's depth buffer rejects most fragments)
    ctx = renderer.ctx
    outputs, geometry = renderer.pass_layout(mode, buffers, False)
    vao = renderer._vao(outputs, geometry)
    fbo = renderer._framebuffer(size[0], size[1], outputs)
    fbo.use()
    for v in verts[WARMUP:]:
        renderer._mesh.buffers["pos"].write(v)
        ctx.finish()
        t0 = time.perf_counter()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vao.render()
        ctx.finish()
        draw.append(time.perf_counter() - t0)
    return {"triangles": int(len(model["triangles"])), "vertices": int(len(model["neutral"])),
            "size": list(size), "mode": mode, "buffers": buffers,
            "read_back": read_back(mode, buffers), "readback_bytes_per_frame": int(readback_bytes),
            "render_ms_median": median_ms(total), "render_cpu_ms_all_threads": round(cpu_ms, 2),
            "draw_only_ms_median": median_ms(draw),
            "upload_readback_unpack_ms_median": round(median_ms(total) - median_ms(draw), 2),
            "barycentric_on_access_ms_median": median_ms(lazy_bary) if lazy_bary else None,
            "depth_on_access_ms_median": median_ms(lazy_depth) if lazy_depth else None,
            "foreground_fraction": round(float(out.mask.mean()), 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    size = (args.size, args.size)
    r = OffscreenRenderer()  # no Qt in this process: the main thread is fine
    load_before = os.getloadavg()[0]
    results = []
    for region in ("face", "full"):
        model = load_ict(region)
        for mode, buffers in (("nmfc", True), ("none", True), ("nmfc", False)):
            res = bench(r, model, size, args.frames, mode, buffers)
            res["region"] = region
            results.append(res)
    # Queue round trip of the RenderThread wrapper (what the GUI pays on top).
    model = load_ict("face")
    expr, pose = animation(args.frames + WARMUP)
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
    print(json.dumps({"gl_renderer": r.gl_renderer, "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
                      "cpus": os.cpu_count(),
                      "lp_num_threads": os.environ.get("LP_NUM_THREADS", "default (one per CPU)"),
                      "frames_per_config": args.frames, "results": results,
                      "render_thread_face_nmfc_ids_ms_median": median_ms(ts[WARMUP:]),
                      "render_thread_stream_face_nmfc_ids_ms_mean": round(1000 * stream, 2),
                      "target_ms": 10.0}, indent=1))


if __name__ == "__main__":
    main()
