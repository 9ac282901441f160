"""``NeuralRenderer``: a trained rendering network behind ``core.warp.FaceRenderer``.

    net = load_renderer("renderers/d10", device="auto")         # checked, on its device
    renderer = NeuralRenderer(net, model, warp=WarpRenderer(model))
    image = renderer.render(FrameRequest(target_frame, target, driven, key)).image

Per frame: the driven face's NMFC and eyes images in the renderer's fixed crop box (the box of
the target clip it was trained on, scaled to the request's picture when that is resized), the
base (the hybrid network: the warp renderer's output for the same request; the pure one: the
target picture), the generator on the last three conditioning frames and its own last two
outputs (Eq. 7.4), and the output blended into the base through its soft mask.

The renderer keeps its last two outputs and conditioning frames, so one instance serves one
output stream on one thread (like the warp renderer). A sequence starts (or starts again after
``reset()``) from the base picture as both previous outputs, as in training; it restarts by
itself when the picture's size changes or the request's ``target_key`` jumps (an integer key
that is neither the last one nor the next: a seek in the editor, a looping target clip).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.errors import InputError
from core.model.face_model import FaceModel
from core.neural import store
from core.neural.conditioning import Conditioner, CropBox
from core.neural.device import autocast, cpu_inference_threads, inference_memory_format, is_cuda, pick_device
from core.neural.networks import Generator, fuse_batchnorm
from core.neural.presets import NetworkConfig
from core.neural.train import cond_channels, to_tensor, to_uint8
from core.warp import FaceRenderer, FrameRequest, FrameResult, WarpRenderer


@dataclass
class LoadedRenderer:
    """A trained network ready to run: folder, manifest, preset, hybrid or pure, the crop box
    (in pixels of frames of ``image_size`` (H, W)), the generator (eval mode, BatchNorm folded
    into the convolutions) and its device. Shared read-only by any number of NeuralRenderers
    on one thread at a time."""

    folder: Path
    manifest: dict
    config: NetworkConfig
    hybrid: bool
    box: CropBox
    image_size: tuple[int, int] | None
    generator: Generator
    device: torch.device

    @property
    def model_name(self) -> str:
        return str(self.manifest.get("model", {}).get("name", ""))

    def box_for(self, shape: tuple[int, int]) -> CropBox:
        """The crop box in a picture of ``shape`` (H, W): the trained box, scaled when the
        picture is the training frames resized. InputError for another aspect ratio."""
        if self.image_size is None or tuple(shape[:2]) == tuple(self.image_size):
            return self.box
        H0, W0 = self.image_size
        H, W = shape[:2]
        kx, ky = W / W0, H / H0
        if abs(kx - ky) > 0.02 * max(kx, ky):
            raise InputError(f"{self.folder}: trained on {W0}x{H0} frames; a {W}x{H} picture is not "
                             "the same target (another aspect ratio)")
        b = self.box
        k = 0.5 * (kx + ky)
        # pixel centres at integers: the box's outer edge scales about -0.5
        return CropBox((b.x0 + 0.5) * k - 0.5, (b.y0 + 0.5) * k - 0.5, b.side * k, b.size)


def load_renderer(folder: str | Path, device: str = "auto", fuse: bool = True) -> LoadedRenderer:
    """Read a renderer folder (``core.neural.store``: manifest, sizes, sha256, tensor names and
    shapes all checked first) and put its generator on ``device``. RendererFileError (an
    InputError) naming the file for anything wrong; never runs code from the files."""
    folder = Path(folder)
    m = store.read_manifest(folder)
    try:
        config = NetworkConfig.from_dict(m["preset"])
        hybrid = bool(m["hybrid"])
        box = CropBox.from_dict(m["crop_box"])
        size = m.get("image_size")
        image_size = (int(size[0]), int(size[1])) if size else None
        files = m["files"]
    except (KeyError, TypeError, ValueError) as e:
        raise store.RendererFileError(f"{folder / store.MANIFEST}: incomplete or invalid ({e})") from e
    if box.size != config.size:
        raise store.RendererFileError(f"{folder / store.MANIFEST}: crop size {box.size} does not match "
                                      f"preset {config.name} ({config.size})")
    dev = pick_device(device)
    G = Generator(config, cond_channels(hybrid))
    state = store.load_tensors(folder / store.GENERATOR, files.get(store.GENERATOR))
    store.check_state(str(folder / store.GENERATOR), G.state_dict(), state)
    G.load_state_dict(state)
    G.eval()
    if fuse:
        fuse_batchnorm(G)
    G.to(dev, memory_format=inference_memory_format(dev))
    return LoadedRenderer(folder, m, config, hybrid, box, image_size, G, dev)


class NeuralRenderer:
    """Renders driven faces with a trained network (a ``FaceRenderer``; see the module docstring).

    net : a LoadedRenderer; model : the FaceModel the faces are posed with (the one the network
    was trained with); warp : the warp renderer whose output the hybrid network corrects (made
    here when None; unused by a pure network). Not thread-safe: one per output stream.
    """

    name = "neural"

    def __init__(self, net: LoadedRenderer, model: FaceModel, warp: WarpRenderer | None = None):
        if net.model_name and net.model_name != model.name:
            raise InputError(f"{net.folder}: trained with the {net.model_name} face model; these faces use "
                             f"{model.name} (retrain, or reconstruct with {net.model_name})")
        self.net = net
        self.model = model
        self.conditioner = Conditioner(model)
        self.warp = (warp or WarpRenderer(model)) if net.hybrid else None
        self._prev: torch.Tensor | None = None      # (2, 3, S, S) previous outputs
        self._hist: torch.Tensor | None = None      # (2, C, S, S) previous conditioning
        self._last_key = None
        self._last_shape = None

    def reset(self) -> None:
        """Start a new sequence at the next frame (after a seek, or a new clip)."""
        self._prev = self._hist = None
        self._last_key = None

    def _continues(self, request: FrameRequest) -> bool:
        key, last = request.target_key, self._last_key
        if self._prev is None or request.target_frame.shape != self._last_shape:
            return False
        if isinstance(key, (int, np.integer)) and isinstance(last, (int, np.integer)):
            return int(key) - int(last) in (0, 1)
        return True

    @torch.no_grad()
    def render(self, request: FrameRequest) -> FrameResult:
        """The output frame for ``request`` (``core.warp.interface``). Stages: warp (hybrid only),
        condition, network, paste."""
        net = self.net
        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        mouth_filled = False
        if self.warp is not None:
            w = self.warp.render(request)
            picture, mouth_filled = w.image, w.mouth_filled
            stages["warp"] = (time.perf_counter() - t0) * 1e3
        else:
            picture = request.target_frame
        t1 = time.perf_counter()
        box = net.box_for(request.target_frame.shape)
        base_crop = box.crop(picture)
        cond = self.conditioner.condition(request.driven, box)
        if net.hybrid:
            cond = np.concatenate([cond, base_crop], -1)
        dev = net.device
        c = to_tensor(cond, dev)                     # (C, S, S)
        base = to_tensor(base_crop, dev)[None]       # (1, 3, S, S)
        if not self._continues(request):
            self._prev = torch.stack([base[0], base[0]])
            self._hist = torch.stack([c, c])
        t2 = time.perf_counter()
        fmt = inference_memory_format(dev)
        x = torch.cat([self._hist[0], self._hist[1], c])[None].contiguous(memory_format=fmt)
        with autocast(dev):
            out, mask = net.generator(x, self._prev.flatten(0, 1)[None].contiguous(memory_format=fmt), base)
        out = out.float()
        self._prev = torch.stack([self._prev[1], out[0]])
        self._hist = torch.stack([self._hist[1], c])
        self._last_key, self._last_shape = request.target_key, request.target_frame.shape
        rgb = to_uint8(out[0])
        m = mask[0, 0].float().cpu().numpy()
        if is_cuda(dev):
            torch.cuda.synchronize(dev)
        t3 = time.perf_counter()
        image = box.paste(picture, rgb, m)
        t4 = time.perf_counter()
        stages.update(condition=(t2 - t1) * 1e3, network=(t3 - t2) * 1e3, paste=(t4 - t3) * 1e3)
        return FrameResult(image, stages, mouth_filled)


def renderer_factory(folder: str | Path, model: FaceModel, device: str = "auto"
                     ) -> Callable[[WarpRenderer], FaceRenderer]:
    """Load a renderer folder once; returns ``make(warp) -> NeuralRenderer`` for the pipelines
    (``ReenactmentPipeline``, ``LivePipeline``, ``EditedFrameRenderer`` take such a factory and
    give it their warp renderer: the hybrid network corrects that warp). On the CPU torch gets
    ``cpu_inference_threads`` intra-op threads (process-wide: the app renders with one network
    at a time)."""
    net = load_renderer(folder, device)
    if not is_cuda(net.device):
        torch.set_num_threads(cpu_inference_threads())
    if net.model_name and net.model_name != model.name:
        raise InputError(f"{folder}: trained with the {net.model_name} face model, not {model.name}")

    def make(warp: WarpRenderer) -> FaceRenderer:
        return NeuralRenderer(net, model, warp)

    return make
