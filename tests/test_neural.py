"""The neural renderer (core/neural): conditioning, networks, training, the renderer folder, the
renderer behind the FaceRenderer interface and the commands. CPU only, tiny presets trained for
seconds on the first 32 frames of d10."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, shared_path

torch = pytest.importorskip("torch")

FRAMES = 32


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """d10's first FRAMES frames, tracked and fitted as a renderer's target (core.neural.data)."""
    from core.neural.data import load_target

    video = shared_path("data", "videos", "d10.mp4")
    cache = tmp_path_factory.mktemp("neural-target")
    return load_target(str(video), max_frames=FRAMES, cache=cache)


@pytest.fixture(scope="module")
def pure_data(target):
    from core.neural.data import prepare_clip

    return prepare_clip(target, 64, False)


@pytest.fixture(scope="module")
def hybrid_data(target):
    from core.neural.data import prepare_clip

    return prepare_clip(target, 64, True)


def _trainer(data, folder, **kw):
    from core.neural.train import Trainer, TrainSettings

    settings = TrainSettings(preset="tiny", hybrid=data.hybrid, device="cpu", **kw)
    info = dict(source="d10.mp4", image_size=[512, 512], model=dict(spec="builtin", name="builtin", vertices=478))
    return Trainer(data, settings, folder, info)


@pytest.fixture(scope="module")
def trained(hybrid_data, tmp_path_factory):
    """A tiny hybrid renderer trained for 8 steps, saved: (folder, trainer)."""
    folder = tmp_path_factory.mktemp("neural-renderer")
    tr = _trainer(hybrid_data, folder, iterations=8, seed=3)
    tr.run()
    return folder, tr


# -- conditioning -----------------------------------------------------------------------
def test_held_out_frames_are_never_trained_on(hybrid_data):
    from core.neural.train import Trainer

    d = hybrid_data
    assert d.train_end == int(FRAMES * 0.8) and d.num_frames == FRAMES
    tr = _trainer(d, "/nonexistent", iterations=1)
    for s, starts in tr._starts.items():
        # a window reaches from two frames before its start to 2s frames after it
        assert starts.min() >= 2 and starts.max() + 2 * s < d.train_end
    assert max(d.references) < d.train_end
    assert isinstance(tr, Trainer)


def test_nmfc_shows_the_open_mouth_and_the_mouth_crop_follows_it(target, pure_data):
    """The NMFC image leaves the mouth opening black, and D_M's crop (mouth_box around
    mouth_centre) holds that opening in its middle, frame after frame, wherever the mouth is."""
    from core.neural.conditioning import mouth_box
    from core.neural.presets import PRESETS

    d = pure_data
    m = PRESETS["tiny"].mouth
    face_mask = d.cond[..., :3].any(-1)
    checked = 0
    for f in range(d.num_frames):
        # the opening: background pixels inside the face's outline (filled rows)
        mask = face_mask[f]
        rows = np.zeros_like(mask)
        for y in range(mask.shape[0]):
            xs = np.flatnonzero(mask[y])
            if len(xs):
                rows[y, xs[0]:xs[-1] + 1] = True
        hole = rows & ~mask
        lower = np.zeros_like(hole)
        lower[int(d.mouth[f, 1]) - m // 2:, :] = True   # below the eyes
        hole &= lower
        if hole.sum() < 6:
            continue
        ys, xs = np.nonzero(hole)
        x0, y0 = mouth_box(d.mouth[f], m, d.size)
        assert x0 <= xs.min() and xs.max() < x0 + m and y0 <= ys.min() and ys.max() < y0 + m, f
        assert abs(xs.mean() - (x0 + m / 2)) < m / 6 and abs(ys.mean() - (y0 + m / 2)) < m / 6, f
        checked += 1
    assert checked >= 10  # d10 talks: the mouth is open in most frames
    # a face moved by (dx, dy) moves its mouth centre by the same in crop pixels
    from core.neural.conditioning import mouth_centre

    face = target.face.driven(target.model, 5, target.face.seq.frame(5))
    moved = type(face)(face.screen + [30.0, -12.0, 0.0], face.points + [30.0, -12.0], face.iris, face.iris_radius,
                       face.gaze)
    shift = mouth_centre(moved, d.box) - mouth_centre(face, d.box)
    assert np.allclose(shift, np.array([30.0, -12.0]) * d.box.scale, atol=1e-6)


def test_nmfc_matches_the_gl_renderers_encoding(target):
    """Our CPU rasterisation uses core.render's NMFC palette: on the full frame it agrees with
    the moderngl renderer's NMFC image except along triangle edges."""
    from core.neural.conditioning import Conditioner, CropBox
    from core.render import RenderThread

    model = target.model
    c = Conditioner(model)
    face = target.face.driven(model, 3, target.face.seq.frame(3))
    H, W = target.face.rec.image_size
    ours = c.nmfc(face, CropBox(0.0, 0.0, float(max(H, W)), max(H, W)))[:H, :W]
    with RenderThread() as r:
        r.set_mesh(c.triangles, model.num_vertices, nmfc_mean=model.mean)
        gl = r.render(face.screen, (W, H), "nmfc").image
    both = ours.any(-1) & gl.any(-1)
    assert both.sum() > 0.95 * gl.any(-1).sum()
    # flat colours per triangle: pixels on a triangle edge may take either side's colour (the two
    # rasterisers' edge rules differ), so a pixel agrees when GL has its colour within one pixel
    g = np.pad(gl.astype(int), ((1, 1), (1, 1), (0, 0)))
    near = np.min([np.abs(ours.astype(int) - g[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]).max(-1)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    assert (near[both] <= 1).mean() > 0.98


def test_crop_and_paste_round_trip():
    from core.neural.conditioning import CropBox

    # a smooth picture: a half-pixel misalignment of crop and paste would show on its slopes
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float64)
    frame = np.stack([xx * 1.5, yy * 2.0, 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 11.0)], -1).astype(np.uint8)
    box = CropBox(20.0, 10.0, 80.0, 80)   # scale 1: the crop is the pixels themselves
    assert np.array_equal(box.crop(frame), frame[10:90, 20:100])
    out = box.paste(frame, np.zeros((80, 80, 3), np.uint8), np.ones((80, 80), np.float32))
    assert (out[10:90, 20:100] == 0).all() and np.array_equal(out[:10], frame[:10])
    # a box reaching off the frame and a resampling one: paste(crop(frame)) keeps the frame
    box = CropBox(-10.0, 50.0, 100.0, 64)
    back = box.paste(frame, box.crop(frame, interpolation=2), np.ones((64, 64), np.float32))
    inner = back[55:115, 5:85].astype(int) - frame[55:115, 5:85]
    assert np.abs(inner).mean() < 1.5
    np.testing.assert_array_equal(box.to_crop(np.array([[-10.0, 50.0]])), [[(0.5 * 0.64) - 0.5] * 2])


# -- networks -----------------------------------------------------------------------------
def test_paper_preset_is_the_thesis_layer_code():
    from core.neural.networks import Generator
    from core.neural.presets import PRESETS, parse_code

    p = PRESETS["paper"]
    assert p.size == 256 and p.mouth == 72 and p.temporal_scales == (1, 2, 4)
    assert parse_code(p.encoder) == [("c", 64, 1), ("d", 128, 1), ("d", 256, 1), ("d", 512, 1), ("R", 512, 4)]
    assert parse_code(p.decoder) == [("R", 512, 5), ("u", 256, 1), ("u", 128, 1), ("u", 64, 1)]
    g = Generator(p, 6)
    convs = [m for m in g.enc_cond.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (7, 7) and convs[0].in_channels == 18 and convs[0].out_channels == 64
    assert [c.stride for c in convs[1:4]] == [(2, 2)] * 3
    ups = [m for m in g.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [u.out_channels for u in ups] == [256, 128, 64] and all(u.stride == (2, 2) for u in ups)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.enc_prev.modules()) == 4 + 8
    with pytest.raises(ValueError):
        parse_code("c64 q3")


def test_generator_output_is_the_base_where_the_mask_is_zero():
    from core.neural.networks import Generator
    from core.neural.presets import PRESETS

    g = Generator(PRESETS["tiny"], 6, mask_bias=-30.0).eval()
    x, p, b = torch.randn(1, 18, 64, 64), torch.randn(1, 6, 64, 64), torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out, mask = g(x, p, b)
    assert out.shape == (1, 3, 64, 64) and float(mask.max()) < 1e-6
    assert torch.allclose(out, b, atol=1e-5)
    # the mask fades to zero at the crop's border whatever the network says
    g2 = Generator(PRESETS["tiny"], 6, mask_bias=30.0).eval()
    with torch.no_grad():
        _, m2 = g2(x, p, b)
    assert float(m2[..., 0, :].max()) == 0.0 and float(m2[..., 32, 32]) > 0.99


def test_batchnorm_folding_keeps_the_outputs(trained):
    import copy

    from core.neural.networks import fuse_batchnorm

    _, tr = trained
    g = copy.deepcopy(tr.G).eval()
    x, p, b = torch.randn(1, 27, 64, 64), torch.randn(1, 6, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = g(x, p, b)[0]
        fused = fuse_batchnorm(g)(x, p, b)[0]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())
    assert torch.allclose(ref, fused, atol=1e-4)


# -- training -----------------------------------------------------------------------------
def test_one_optimiser_step_lowers_the_loss(pure_data, tmp_path):
    from core.neural.losses import reconstruction

    tr = _trainer(pure_data, tmp_path, iterations=1, seed=1)
    batch = tr.sample(1)

    def loss():
        with torch.no_grad():
            torch.manual_seed(0)
            fake = tr.generate(batch)
            return float(reconstruction(fake.flatten(0, 1), batch["real"][:, 2:].flatten(0, 1)))

    before = loss()
    losses = tr.step(batch)
    after = loss()
    assert after < before, (before, after)
    assert {"rec", "adv", "feat", "g", "d_image", "d_mouth", "d_dynamics"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())


def test_generator_really_uses_the_previous_outputs(trained, hybrid_data):
    """The trained generator's output moves with its previous outputs: the same conditioning
    after a different history gives a different frame, and its gradient reaches them."""
    _, tr = trained
    g = tr.G.eval()
    d = hybrid_data
    from core.neural.train import frame_condition, to_tensor

    f = d.train_end + 3
    cond = to_tensor(frame_condition(d, np.array([f - 2, f - 1, f])), "cpu").flatten(0, 1)[None]
    base = to_tensor(np.asarray(d.base[f]), "cpu")[None]
    real_prev = to_tensor(np.asarray(d.real[[f - 2, f - 1]]), "cpu").flatten(0, 1)[None].requires_grad_(True)
    out_real, _ = g(cond, real_prev, base)
    out_base, _ = g(cond, torch.cat([base, base], 1), base)
    diff = (out_real - out_base).abs().mean().item() * 127.5
    assert diff > 0.2, diff  # grey levels
    out_real.sum().backward()
    assert real_prev.grad.abs().sum().item() > 0
    g.train()


def test_resume_continues_exactly(hybrid_data, tmp_path):
    """3 steps, a checkpoint, a new trainer resumed from it and 3 more steps: the same weights
    and losses as 6 steps without a stop."""
    straight = _trainer(hybrid_data, tmp_path / "a", iterations=6, seed=5)
    straight.run()
    first = _trainer(hybrid_data, tmp_path / "b", iterations=3, seed=5)
    first.run()
    second = _trainer(hybrid_data, tmp_path / "b", iterations=6, seed=5)
    second.resume()
    assert second.iteration == 3
    second.run()
    for k, v in straight.G.state_dict().items():
        assert torch.equal(v, second.G.state_dict()[k]), k
    for k, v in straight.D.state_dict().items():
        assert torch.equal(v, second.D.state_dict()[k]), k
    assert [h["g"] for h in straight.history] == [h["g"] for h in second.history]
    assert (tmp_path / "b" / "validation" / "sheet_000006.png").is_file()


def test_training_stops_on_cancel_with_a_checkpoint(pure_data, tmp_path):
    from core.jobs import CancelToken, Cancelled

    cancel = CancelToken()
    seen = []

    def on_update(u):
        seen.append(u)
        if u["iteration"] == 2:
            cancel.cancel()

    tr = _trainer(pure_data, tmp_path, iterations=50)
    with pytest.raises(Cancelled):
        tr.run(cancel=cancel, on_update=on_update)
    assert tr.iteration == 2 and (tmp_path / "checkpoint.safetensors").is_file()
    assert {"its_per_s", "eta_s", "losses"} <= set(seen[0]) and seen[-1]["sheet"].endswith(".png")


# -- the renderer folder ------------------------------------------------------------------
def test_save_load_round_trip_is_exact(trained):
    from core.neural.renderer import load_renderer

    folder, tr = trained
    net = load_renderer(folder, device="cpu", fuse=False)
    for k, v in tr.G.state_dict().items():
        assert torch.equal(v, net.generator.state_dict()[k]), k
    m = json.loads((folder / "manifest.json").read_text())
    assert m["preset"]["name"] == "tiny" and m["hybrid"] is True and m["training"]["frames"] == [0, 25]
    assert m["training"]["held_out"] == [25, FRAMES] and m["training"]["iterations"] == 8
    assert len(m["files"]["generator.safetensors"]["sha256"]) == 64 and m["crop_box"]["size"] == 64


def _copy(folder, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(folder, dst, ignore=shutil.ignore_patterns("data", "checkpoint*", "validation"))
    return dst


def test_corrupt_renderer_files_give_clear_errors_and_never_run_code(trained, tmp_path):
    from core.neural.renderer import load_renderer
    from core.neural.store import RendererFileError

    folder, _ = trained
    # truncated
    dst = _copy(folder, tmp_path / "t")
    g = dst / "generator.safetensors"
    g.write_bytes(g.read_bytes()[:-100])
    with pytest.raises(RendererFileError, match="truncated"):
        load_renderer(dst)
    # one byte changed, same size
    dst = _copy(folder, tmp_path / "c")
    g = dst / "generator.safetensors"
    b = bytearray(g.read_bytes())
    b[-7] ^= 0xFF
    g.write_bytes(bytes(b))
    with pytest.raises(RendererFileError, match="sha256"):
        load_renderer(dst)
    # a manifest describing another network than the weights
    dst = _copy(folder, tmp_path / "m")
    m = json.loads((dst / "manifest.json").read_text())
    m["preset"]["encoder"] = "c8 d16 d32 R32x2"
    (dst / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RendererFileError, match="do not match"):
        load_renderer(dst)
    # a pickle in place of the tensors (checksums updated to match): refused, never executed
    import hashlib
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    dst = _copy(folder, tmp_path / "p")
    data = pickle.dumps({"x": Payload()})
    (dst / "generator.safetensors").write_bytes(data)
    m = json.loads((dst / "manifest.json").read_text())
    m["files"]["generator.safetensors"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (dst / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RendererFileError, match="safetensors"):
        load_renderer(dst)
    assert not marker.exists()
    # not a renderer at all
    with pytest.raises(RendererFileError, match="manifest.json"):
        load_renderer(tmp_path)


# -- devices --------------------------------------------------------------------------------
def test_device_auto_picks_the_cpu_here():
    from core.errors import InputError
    from core.neural.device import autocast, memory_format, pick_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: auto picks it")
    dev = pick_device("auto")
    assert dev.type == "cpu"
    assert memory_format(dev) == torch.contiguous_format
    with autocast(dev):  # a no-op on the CPU: float32 stays float32
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(InputError, match="no CUDA device"):
        pick_device("cuda")
    with pytest.raises(InputError, match="expected one of"):
        pick_device("tpu")


def test_progress_messages_carry_both_losses_and_read_back():
    from core.neural.progress import parse_progress, progress_message

    msg = progress_message(12, 0.41, 3.009, 245, 0.712)
    assert msg == "iteration 12  0.41 it/s  G 3.009  D 0.712  ETA 4:05"
    assert parse_progress("training: " + msg) == dict(iteration=12, its_per_s=0.41, g=3.009, d=0.712, eta_s=245)
    no_gan = parse_progress(progress_message(3, 1.5, 0.25, 61))
    assert no_gan["d"] is None and no_gan["g"] == 0.25 and no_gan["eta_s"] == 61
    assert parse_progress("fitting the target") is None


def test_cpu_inference_uses_channels_last_and_leaves_cores_to_the_rest_of_the_app(trained, target):
    """The app's renderer on the CPU: channels-last forward passes with the same outputs as the
    training layout, and half the cores for torch (the tracker, decoder and GUI need the rest)."""
    import copy

    from core.neural.device import cpu_inference_threads
    from core.neural.networks import fuse_batchnorm
    from core.neural.renderer import renderer_factory

    assert [cpu_inference_threads(n) for n in (1, 2, 3, 8)] == [1, 1, 1, 4]
    folder, tr = trained
    g = fuse_batchnorm(copy.deepcopy(tr.G).eval())
    x, p, b = torch.randn(1, 27, 64, 64), torch.randn(1, 6, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = g(x, p, b)[0]
        g_cl = g.to(memory_format=torch.channels_last)
        cl = g_cl(*(t.contiguous(memory_format=torch.channels_last) for t in (x, p, b)))[0]
    assert torch.allclose(ref, cl, atol=1e-5)
    before = torch.get_num_threads()
    try:
        renderer_factory(folder, target.model, "cpu")
        assert torch.get_num_threads() == cpu_inference_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA-only path (AMP float16 and channels-last "
                    "training): this machine has no CUDA device")
def test_cuda_step_uses_amp_and_channels_last(hybrid_data, tmp_path):
    from core.neural.train import Trainer, TrainSettings

    tr = Trainer(hybrid_data, TrainSettings(preset="tiny", hybrid=True, device="cuda", iterations=1), tmp_path)
    assert tr.scaler_g.is_enabled()
    assert tr.G.head[1].weight.is_contiguous(memory_format=torch.channels_last)
    losses = tr.step()
    assert all(np.isfinite(v) for v in losses.values())


# -- the renderer -------------------------------------------------------------------------------
def test_neural_renderer_is_a_face_renderer_and_keeps_its_history(trained, target):
    from core.neural.renderer import NeuralRenderer, load_renderer
    from core.video import read_clip
    from core.warp import FaceRenderer, FrameRequest

    folder, _ = trained
    net = load_renderer(folder, device="cpu")
    r = NeuralRenderer(net, target.model)
    assert isinstance(r, FaceRenderer) and r.name == "neural"
    frames, _ = read_clip(target.video, 3)
    face = target.face
    tgt = face.target(target.model, 0)
    outs = []
    for i in range(3):
        req = FrameRequest(frames[0], tgt, face.driven(target.model, i, face.seq.frame(i)), 0)
        res = r.render(req)
        assert res.image.shape == frames[0].shape and res.image.dtype == np.uint8
        assert {"warp", "condition", "network", "paste"} <= set(res.stage_ms)
        outs.append(res.image)
    # outside the crop box the picture is the warp's (the hybrid's base), untouched
    x1 = int(net.box.x0 + net.box.side) + 2
    if x1 < frames[0].shape[1]:
        assert np.array_equal(outs[0][:, x1:], r.warp.render(req).image[:, x1:])
    # a restart after reset gives the first frame again (the history is the renderer's own)
    r.reset()
    again = r.render(FrameRequest(frames[0], tgt, face.driven(target.model, 0, face.seq.frame(0)), 0)).image
    assert np.array_equal(again, outs[0])
    # a resized picture (the editor's drag preview) scales the box
    half = net.box_for((256, 256))
    assert half.side == pytest.approx(net.box.side / 2) and half.size == net.box.size


# -- the commands ---------------------------------------------------------------------------------
def _main(*args, cache=None, timeout=600):
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if cache is not None:
        env["FACESTUDIO_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_a_targets_renderers_are_found_by_their_manifest(tmp_path, monkeypatch):
    """core.neural.library: the newest renderer trained on the target, beside it or in the
    per-user folder; other targets' renderers and unreadable manifests are passed over."""
    import os

    from core.neural.library import default_folder, describe, find_renderer, renderers_dir

    monkeypatch.setenv("FACESTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"x")
    other = tmp_path / "other.mp4"
    assert find_renderer(target) is None
    assert default_folder(target).parent == renderers_dir() and default_folder(target) != default_folder(other)

    def make(folder, source, iterations, mtime):
        folder.mkdir(parents=True)
        m = dict(preset=dict(name="cpu-mouth"), hybrid=True,
                 training=dict(source=str(source), iterations=iterations, seconds=90.0))
        (folder / "manifest.json").write_text(json.dumps(m))
        os.utime(folder / "manifest.json", (mtime, mtime))

    make(renderers_dir() / "a", target, 10, 1000)
    make(renderers_dir() / "b", other, 20, 3000)
    make(tmp_path / "clip.mp4.renderer", target, 30, 2000)
    (renderers_dir() / "broken").mkdir()
    (renderers_dir() / "broken" / "manifest.json").write_text("{not json")
    found = find_renderer(target)
    assert found["folder"] == str(tmp_path / "clip.mp4.renderer") and found["iterations"] == 30
    assert describe(found) == "cpu-mouth hybrid, 30 iterations (1.5 min)"
    assert find_renderer(other)["iterations"] == 20


def test_train_renderer_and_reenact_neural_end_to_end(tmp_path):
    """train-renderer on d10's first 20 frames (--device auto: the CPU here), then reenact d3
    onto d10 with that renderer: the output has the source's frames and audio, and differs from
    the warp's inside the crop box only."""
    src = shared_path("data", "videos", "d3.mp4")
    tgt = shared_path("data", "videos", "d10.mp4")
    cache = tmp_path / "cache"
    # --renderer neural and no renderer for the target yet: a one-line user error
    r = _main("reenact", "--source", src, "--target", tgt, "-o", tmp_path / "x.mp4", "--renderer", "neural",
              cache=cache)
    assert r.returncode == 2 and "no trained renderer" in r.stderr and "--renderer-model" in r.stderr
    # without -o the renderer goes to the per-user renderers folder, where reenact finds it
    r = _main("train-renderer", tgt, "--preset", "tiny-mouth", "--hybrid", "--iterations", 4,
              "--max-frames", 20, "--device", "auto", "--threads", 1, cache=cache)
    assert r.returncode == 0, r.stderr[-2000:]
    (folder,) = (cache / "renderers").iterdir()
    m = json.loads((folder / "manifest.json").read_text())
    if not torch.cuda.is_available():
        assert m["training"]["device"].startswith("cpu"), m["training"]["device"]
    assert m["training"]["iterations"] == 4 and m["training"]["held_out"] == [16, 20]
    assert list((folder / "validation").glob("sheet_*.png"))
    # training again into the same folder without --resume is refused; --resume goes on
    r = _main("train-renderer", tgt, "-o", folder, "--iterations", 6, "--max-frames", 20)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = _main("train-renderer", tgt, "-o", folder, "--iterations", 6, "--max-frames", 20, "--resume",
              "--threads", 1)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((folder / "manifest.json").read_text())["training"]["iterations"] == 6

    import cv2

    from core.video import probe, read_clip

    outs = {}
    for name, extra in (("neural", ["--renderer", "neural"]), ("warp", [])):
        out = tmp_path / f"{name}.mp4"
        r = _main("reenact", "--source", src, "--target", tgt, "-o", out, "--max-frames", 8, *extra, cache=cache)
        assert r.returncode == 0, r.stderr[-2000:]
        info = probe(out)
        assert info["has_audio"] and info["has_video"] and info["frame_count"] == 8
        outs[name] = np.stack(read_clip(str(out), 8)[0])
        assert f"with the {name} renderer" in r.stdout
    diff = np.abs(outs["neural"].astype(int) - outs["warp"].astype(int)).max(-1)   # (F, H, W)
    box = m["crop_box"]
    x0, y0, side = box["x0"], box["y0"], box["side"]
    inside = np.zeros(diff.shape[1:], bool)
    inside[max(0, int(y0)):int(y0 + side) + 1, max(0, int(x0)):int(x0 + side) + 1] = True
    assert diff[:, inside].mean() > 1.0            # the network changed the mouth region
    # away from the box only the video codec's differences (the exact check, before encoding, is
    # test_neural_renderer_is_a_face_renderer_and_keeps_its_history)
    far = ~cv2.dilate(inside.astype(np.uint8), np.ones((33, 33), np.uint8)).astype(bool)
    assert diff[:, far].mean() < 0.3 * diff[:, inside].mean(), (diff[:, far].mean(), diff[:, inside].mean())
    # a folder that is no renderer: a one-line user error
    r = _main("reenact", "--source", src, "--target", tgt, "-o", tmp_path / "x.mp4", "--renderer", "neural",
              "--renderer-model", tmp_path)
    assert r.returncode == 2 and "manifest.json" in r.stderr and "Traceback" not in r.stderr
