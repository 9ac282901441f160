"""Training the rendering network on a target clip by self-reenactment (thesis 7.2.4).

One step (``Trainer.step``): ``batch`` windows of 2s + 1 consecutive training frames, s the
step's temporal scale (the preset's scales in turn: 1, 2, 4), each starting from two previous
frames that are, with probability ``real_history``, the real ones and otherwise the window's
first base picture twice (how the renderer starts a sequence). The generator runs frame by
frame, each output feeding the next as a previous output (detached). Then, per Eqs. 7.5-7.9:

    L_G = 1/2 L_adv(D_D) + 1/2 (L_adv(D_I) + L_adv(D_M)) + lambda_rec L_rec + lambda_feat (FM(D_I) + FM(D_D))

with L_rec the VGG stand-in (``core.neural.losses.reconstruction``) over every generated frame,
D_I and D_M on every generated frame, D_D (the step's temporal scale) on frames 0, s, 2s with
the real frames' DIS flow between them; then each discriminator takes its LSGAN step on the
same real and (detached) generated inputs. Adam, lr 2e-4, betas (0.5, 0.999) as the thesis.

Budget: ``minutes`` of training time (summed over resumes) or ``iterations``. Every
``checkpoint_minutes`` (and at the end, and when stopped) the folder gets an atomic checkpoint
(everything resuming needs: weights, optimiser moments, random states, the loss history) plus
the inference weights and manifest (``core.neural.store``) and a validation sheet
(``validation/sheet_NNNNNN.png``: conditioning | output | real | error on held-out frames).
Resuming loads the checkpoint and goes on exactly where it stopped: the same batches and the
same random draws as an uninterrupted run.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.atomic import write_bytes_atomic, write_text_atomic
from core.errors import InputError
from core.jobs import CancelToken, Cancelled, ProgressFn, report
from core.neural import store
from core.neural.conditioning import mouth_box
from core.neural.data import ClipData
from core.neural.device import autocast, describe, grad_scaler, is_cuda, memory_format, pick_device
from core.neural.losses import feature_matching, lsgan_d, lsgan_g, reconstruction
from core.neural.networks import COND_CHANNELS, HYBRID_CHANNELS, DiscriminatorSet, Generator
from core.neural.presets import PRESETS, NetworkConfig
from core.neural.progress import progress_message

#: the hybrid's mask starts near 0 (sigmoid(-2) = 0.12): the output starts as the warp's picture
#: and the network learns where to correct it; the pure network starts half way
HYBRID_MASK_BIAS = -2.0
PURE_MASK_BIAS = 0.0
#: DIS flow (crop pixels) is divided by size / FLOW_UNITS before it goes into D_D
FLOW_UNITS = 32


@dataclass
class TrainSettings:
    """How to train (the command line's options; the thesis's values by default).

    preset : a ``core.neural.presets.PRESETS`` name; hybrid : the warp's output as an input
    minutes / iterations : the budget (either; both: whichever comes first; neither: 30 minutes)
    lambda_rec : weight of the VGG stand-in (the thesis's lambda_vgg = 10)
    lambda_feat : weight of feature matching (10); reconstruction : "l1+msssim", "l1" or "none"
    gan : False trains on the reconstruction loss alone (an ablation)
    real_history : probability a window starts from the real previous frames
    snapshots : training minutes at which to keep a copy of the generator (learning curves)
    threads : torch CPU threads (None: torch's default)
    """

    preset: str = "cpu"
    hybrid: bool = False
    minutes: float | None = None
    iterations: int | None = None
    device: str = "auto"
    seed: int = 0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_rec: float = 10.0
    lambda_feat: float = 10.0
    reconstruction: str = "l1+msssim"
    gan: bool = True
    real_history: float = 0.5
    checkpoint_minutes: float = 5.0
    snapshots: tuple[float, ...] = field(default_factory=tuple)
    threads: int | None = None

    def budget_seconds(self) -> float | None:
        """The time budget in seconds (None: only iterations count)."""
        if self.minutes is None and self.iterations is None:
            return 30 * 60.0
        return None if self.minutes is None else float(self.minutes) * 60.0


def to_tensor(a: np.ndarray, device) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float (..., C, H, W) in [-1, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(a)).to(device)
    t = t.movedim(-1, -3).float()
    return t / 127.5 - 1.0


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """Float (..., C, H, W) in [-1, 1] -> uint8 (..., H, W, C) numpy."""
    return ((t.detach().float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).movedim(-3, -1).cpu().numpy()


def cond_channels(hybrid: bool) -> int:
    """Channels of one conditioning frame: NMFC + eyes (+ the warp's output)."""
    return HYBRID_CHANNELS if hybrid else COND_CHANNELS


def frame_condition(data: ClipData, frames: np.ndarray) -> np.ndarray:
    """(..., S, S, C) uint8 conditioning X of ``frames``: NMFC + eyes (+ base for the hybrid)."""
    c = np.asarray(data.cond[frames])
    return np.concatenate([c, np.asarray(data.base[frames])], -1) if data.hybrid else c


class Trainer:
    """Trains one generator (and its discriminators) on a prepared clip; see the module docstring.

    data : ClipData; settings : TrainSettings; folder : the renderer folder (checkpoints, sheets,
    the inference weights); info : what the manifest records about the target (source, model...)
    """

    def __init__(self, data: ClipData, settings: TrainSettings, folder: str | Path, info: dict | None = None):
        if settings.preset not in PRESETS:
            raise InputError(f"--preset {settings.preset}: expected one of {', '.join(PRESETS)}")
        self.config: NetworkConfig = PRESETS[settings.preset]
        if data.size != self.config.size:
            raise ValueError(f"data prepared at {data.size} px, preset {self.config.name} needs {self.config.size}")
        if data.hybrid != settings.hybrid:
            raise ValueError("data prepared for the other network kind (hybrid / pure)")
        self.data, self.settings, self.folder = data, settings, Path(folder)
        self.info = dict(info or {})
        self.device = pick_device(settings.device)
        if settings.threads:
            torch.set_num_threads(int(settings.threads))
        torch.manual_seed(settings.seed)
        C = cond_channels(settings.hybrid)
        fmt = memory_format(self.device)
        bias = HYBRID_MASK_BIAS if settings.hybrid else PURE_MASK_BIAS
        self.G = Generator(self.config, C, bias).to(self.device, memory_format=fmt)
        self.D = DiscriminatorSet(self.config, C).to(self.device, memory_format=fmt)
        betas = (settings.beta1, settings.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=settings.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=settings.lr, betas=betas)
        self.scaler_g, self.scaler_d = grad_scaler(self.device), grad_scaler(self.device)
        self.rng = np.random.Generator(np.random.PCG64(settings.seed))
        self.iteration = 0
        self.seconds = 0.0
        self.history: list[dict] = []
        self.snapshots_done: list[float] = []
        self._starts = self._window_starts()
        if not self._starts:
            raise InputError("the training part of the clip has no run of consecutive tracked frames long "
                             "enough for a training window")
        import cv2

        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    # -- sampling -------------------------------------------------------------------
    def _window_starts(self) -> dict[int, np.ndarray]:
        """Per temporal scale s: the frames t a window can start at (t - 2 .. t + 2s all tracked
        training frames). Scales no window fits are left out."""
        v = np.asarray(self.data.valid[:self.data.train_end], bool)
        out = {}
        for s in self.config.temporal_scales:
            span = 2 * s + 3  # two previous frames and 2s + 1 generated
            if len(v) < span:
                continue
            ok = np.lib.stride_tricks.sliding_window_view(v, span).all(axis=1)
            starts = np.flatnonzero(ok) + 2
            if len(starts):
                out[int(s)] = starts
        return out

    @property
    def scales(self) -> list[int]:
        return sorted(self._starts)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(2, S, S) float32: DIS flow a -> b of two RGB crops, in FLOW_UNITS of the crop."""
        import cv2

        f = self._dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
        return (f / (self.data.size / FLOW_UNITS)).transpose(2, 0, 1).astype(np.float32)

    def sample(self, scale: int) -> dict[str, torch.Tensor]:
        """A batch of windows at temporal scale ``scale`` (T = 2 scale + 1 generated frames):
        cond (B, T+2, C, S, S), real and base (B, T+2, 3, S, S), mouth (B, T, 2) crop pixels,
        flow (B, 4, S, S) of the real frames 0 -> s -> 2s, real_start (B,) bool."""
        B, T = self.config.batch, 2 * scale + 1
        starts = self.rng.choice(self._starts[scale], size=B)
        real_start = self.rng.random(B) < self.settings.real_history
        idx = starts[:, None] + np.arange(-2, T)[None, :]                   # (B, T+2)
        d = self.data
        real = np.asarray(d.real[idx.ravel()]).reshape(B, T + 2, *d.real.shape[1:])
        flows = np.stack([np.concatenate([self._flow(real[b, 2], real[b, 2 + scale]),
                                          self._flow(real[b, 2 + scale], real[b, 2 + 2 * scale])]) for b in range(B)])
        dev = self.device
        return dict(cond=to_tensor(frame_condition(d, idx.ravel()).reshape(B, T + 2, d.size, d.size, -1), dev),
                    real=to_tensor(real, dev),
                    base=to_tensor(np.asarray(d.base[idx.ravel()]).reshape(B, T + 2, d.size, d.size, 3), dev),
                    mouth=torch.from_numpy(np.asarray(d.mouth)[idx[:, 2:]]),
                    flow=torch.from_numpy(flows).to(dev),
                    real_start=torch.from_numpy(real_start).to(dev))

    # -- one step -------------------------------------------------------------------
    def generate(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run G over the window: (B, T, 3, S, S) generated frames (graph kept for the losses)."""
        cond, real, base = batch["cond"], batch["real"], batch["base"]
        B, T2 = cond.shape[:2]
        start = batch["real_start"].view(B, 1, 1, 1, 1).to(real.dtype)
        prev = start * real[:, :2] + (1 - start) * base[:, 2:3].expand(-1, 2, -1, -1, -1)
        fmt = memory_format(self.device)
        outs = []
        for j in range(2, T2):
            c = cond[:, j - 2:j + 1].flatten(1, 2).contiguous(memory_format=fmt)
            out, _ = self.G(c, prev.flatten(1, 2).contiguous(memory_format=fmt), base[:, j])
            outs.append(out)
            prev = torch.stack([prev[:, 1], out.detach()], 1)
        return torch.stack(outs, 1)

    def _mouth_crops(self, x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """(N, C, m, m) crops of (N, C, S, S) around (N, 2) crop-pixel centres."""
        m, S = self.config.mouth, self.data.size
        crops = []
        for i in range(x.shape[0]):
            x0, y0 = mouth_box(centres[i].numpy(), m, S)
            crops.append(x[i, :, y0:y0 + m, x0:x0 + m])
        return torch.stack(crops)

    def step(self, batch: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """One training step (see the module docstring) on ``batch`` (default: ``sample`` at the
        step's temporal scale); returns the losses as floats."""
        if batch is None:
            s = self.scales[self.iteration % len(self.scales)]
            batch = self.sample(s)
        else:
            s = (batch["cond"].shape[1] - 3) // 2
        st = self.settings
        cond_t = batch["cond"][:, 2:].flatten(0, 1)                 # (B T, C, S, S)
        real_t = batch["real"][:, 2:].flatten(0, 1)
        centres = batch["mouth"].flatten(0, 1)
        with autocast(self.device):
            fake = self.generate(batch)                               # (B, T, 3, S, S)
            fake_t = fake.flatten(0, 1)
            loss_rec = reconstruction(fake_t, real_t, st.reconstruction)
            losses = dict(rec=loss_rec)
            loss_g = st.lambda_rec * loss_rec
            if st.gan:
                D = self.D
                pair_real = torch.cat([cond_t, real_t], 1)
                pair_fake = torch.cat([cond_t, fake_t], 1)
                mouth_real = self._mouth_crops(pair_real, centres)
                mouth_fake = self._mouth_crops(pair_fake, centres)
                sel = [0, s, 2 * s]
                flow = batch["flow"]
                dyn_real = torch.cat([batch["real"][:, 2:][:, sel].flatten(1, 2), flow], 1)
                dyn_fake = torch.cat([fake[:, sel].flatten(1, 2), flow], 1)
                d_dyn = D.dynamics[self.config.temporal_scales.index(s)]
                di_real, dm_real, dd_real = D.image(pair_real), D.mouth(mouth_real), d_dyn(dyn_real)
                di_fake, dm_fake, dd_fake = D.image(pair_fake), D.mouth(mouth_fake), d_dyn(dyn_fake)
                adv = 0.5 * lsgan_g(dd_fake) + 0.5 * (lsgan_g(di_fake) + lsgan_g(dm_fake))   # Eq. 7.5
                feat = feature_matching(di_real, di_fake) + feature_matching(dd_real, dd_fake)
                loss_g = loss_g + adv + st.lambda_feat * feat                                # Eq. 7.6
                losses.update(adv=adv, feat=feat)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        losses["g"] = loss_g
        if st.gan:
            with autocast(self.device):
                fd = fake_t.detach()
                pf = torch.cat([cond_t, fd], 1)
                l_di = lsgan_d(di_real, D.image(pf))                                           # Eq. 7.7
                l_dm = lsgan_d(dm_real, D.mouth(self._mouth_crops(pf, centres)))              # Eq. 7.8
                l_dd = lsgan_d(dd_real, d_dyn(torch.cat([fake.detach()[:, sel].flatten(1, 2), flow], 1)))  # 7.9
                loss_d = l_di + l_dm + l_dd
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(loss_d).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            losses.update(d_image=l_di, d_mouth=l_dm, d_dynamics=l_dd)
        self.iteration += 1
        return {name: float(v.detach()) for name, v in losses.items()}

    # -- validation -----------------------------------------------------------------
    @torch.no_grad()
    def validate(self, frames: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
        """Run G over the held-out frames from a reset (as the renderer starts): returns
        ({"l1", "psnr"} over the crops, outputs (F, S, S, 3) uint8) for ``frames`` (default:
        every held-out frame)."""
        d = self.data
        frames = np.arange(d.train_end, d.num_frames) if frames is None else np.asarray(frames)
        outs = run_sequence(self.G, d, frames, self.device)
        real = np.asarray(d.real[frames]).astype(np.float64)
        err = np.abs(outs.astype(np.float64) - real)
        mse = float(np.mean(err ** 2))
        return dict(l1=float(err.mean()), psnr=float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))), outs

    # -- files ----------------------------------------------------------------------
    def manifest(self) -> dict:
        """The renderer's manifest (store.write_manifest adds format and version)."""
        d = self.data
        return dict(
            preset=self.config.to_dict(), hybrid=bool(d.hybrid), crop_box=d.box.to_dict(),
            image_size=self.info.get("image_size"), model=self.info.get("model", {}),
            training=dict(source=self.info.get("source"), frames=[0, int(d.train_end)],
                          held_out=[int(d.train_end), int(d.num_frames)], references=list(d.references),
                          fps=d.fps, iterations=self.iteration, seconds=round(self.seconds, 1),
                          device=describe(self.device), settings=_settings_dict(self.settings)),
            validation=self.history[-1].get("validation") if self.history else None)

    def save(self, sheet: bool = True) -> Path | None:
        """Write the inference weights and manifest, the checkpoint and (``sheet``) a validation
        sheet; returns the sheet's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        val_path = None
        if sheet:
            from core.neural.sheets import validation_sheet

            d = self.data
            frames = np.arange(d.train_end, d.num_frames)
            metrics, outs = self.validate(frames)
            if self.history:
                self.history[-1]["validation"] = metrics
            picks = np.unique(np.linspace(0, len(frames) - 1, 4).round().astype(int))
            img = validation_sheet(d, frames[picks], outs[picks],
                                   title=f"iteration {self.iteration}  {self.seconds / 60:.1f} min  "
                                         f"held-out L1 {metrics['l1']:.2f}  PSNR {metrics['psnr']:.2f} dB")
            val_path = self.folder / "validation" / f"sheet_{self.iteration:06d}.png"
            _write_png(val_path, img)
            _write_png(self.folder / "validation" / "latest.png", img)
        files = {store.GENERATOR: store.save_tensors(self.folder / store.GENERATOR, self.G.state_dict())}
        tensors = {f"G.{k}": v for k, v in self.G.state_dict().items()}
        tensors.update({f"D.{k}": v for k, v in self.D.state_dict().items()})
        groups = {}
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            sd = opt.state_dict()
            for pid, state in sd["state"].items():
                for key, v in state.items():
                    tensors[f"{name}.{pid}.{key}"] = v if torch.is_tensor(v) else torch.tensor(v)
            groups[name] = sd["param_groups"]
        tensors["rng.torch"] = torch.get_rng_state()
        if is_cuda(self.device):
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        files[store.CHECKPOINT] = store.save_tensors(self.folder / store.CHECKPOINT, tensors)
        state = dict(iteration=self.iteration, seconds=self.seconds, rng=self.rng.bit_generator.state,
                     param_groups=groups, history=self.history, snapshots_done=self.snapshots_done,
                     settings=_settings_dict(self.settings), scalers=dict(
                         g=self.scaler_g.state_dict(), d=self.scaler_d.state_dict()))
        write_text_atomic(self.folder / store.CHECKPOINT_JSON, json.dumps(state))
        manifest = self.manifest()
        manifest["files"] = files
        store.write_manifest(self.folder, manifest)
        return val_path

    def resume(self) -> None:
        """Load the folder's checkpoint (written by ``save``) into this trainer: weights, optimiser
        moments, random states, counters, history. RendererFileError when it is missing, damaged
        or made with other settings."""
        m = store.read_manifest(self.folder)
        if m.get("preset") != self.config.to_dict() or bool(m.get("hybrid")) != self.settings.hybrid:
            raise store.RendererFileError(f"{self.folder}: trained with preset {m.get('preset', {}).get('name')} "
                                          f"(hybrid {m.get('hybrid')}); resume it with the same --preset/--hybrid")
        tensors = store.load_tensors(self.folder / store.CHECKPOINT, m.get("files", {}).get(store.CHECKPOINT))
        try:
            state = json.loads((self.folder / store.CHECKPOINT_JSON).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise store.RendererFileError(f"{self.folder / store.CHECKPOINT_JSON}: unreadable ({e})") from e
        g = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
        dsd = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
        store.check_state(str(self.folder / store.CHECKPOINT), self.G.state_dict(), g)
        store.check_state(str(self.folder / store.CHECKPOINT), self.D.state_dict(), dsd)
        self.G.load_state_dict(g)
        self.D.load_state_dict(dsd)
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            st: dict = {}
            prefix = f"{name}."
            for k, v in tensors.items():
                if k.startswith(prefix):
                    pid, key = k[len(prefix):].split(".", 1)
                    st.setdefault(int(pid), {})[key] = v.to(self.device) if key != "step" else v
            opt.load_state_dict(dict(state=st, param_groups=state["param_groups"][name]))
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and is_cuda(self.device):
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.rng.bit_generator.state = state["rng"]
        self.iteration, self.seconds = int(state["iteration"]), float(state["seconds"])
        self.history = list(state.get("history", []))
        self.snapshots_done = list(state.get("snapshots_done", []))
        self.scaler_g.load_state_dict(state["scalers"]["g"])
        self.scaler_d.load_state_dict(state["scalers"]["d"])

    def snapshot(self, minutes: float) -> None:
        """Keep a copy of the generator at ``minutes`` of training (``snapshots/gen_MMMmin``)."""
        folder = self.folder / "snapshots" / f"{minutes:05.1f}min"
        folder.mkdir(parents=True, exist_ok=True)
        files = {store.GENERATOR: store.save_tensors(folder / store.GENERATOR, self.G.state_dict())}
        manifest = self.manifest()
        manifest["files"] = files
        store.write_manifest(folder, manifest)
        self.snapshots_done.append(float(minutes))

    # -- the loop -------------------------------------------------------------------
    def run(self, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
            on_update: Callable[[dict], None] | None = None) -> dict:
        """Train until the budget is spent or ``cancel``; checkpoints on the way and at the end
        (also when cancelled: a stopped training can be resumed). ``on_update`` gets a dict per
        step (iteration, seconds, losses, it/s, eta) and, after each checkpoint, the sheet's path.
        Returns the last update."""
        st = self.settings
        budget = st.budget_seconds()
        last_ckpt = self.seconds
        self.G.train()
        self.D.train()
        window: list[float] = []
        update: dict = {}
        stopped = False
        while not self._done(budget):
            if cancel is not None and cancel.cancelled:
                stopped = True
                break
            t0 = time.perf_counter()
            losses = self.step()
            dt = time.perf_counter() - t0
            self.seconds += dt
            window = (window + [dt])[-20:]
            its = len(window) / sum(window)
            eta = self._eta(budget, its)
            update = dict(iteration=self.iteration, seconds=round(self.seconds, 2), losses=losses,
                          its_per_s=its, eta_s=eta)
            self.history.append(dict(iteration=self.iteration, seconds=round(self.seconds, 2),
                                     **{k: round(v, 5) for k, v in losses.items()}))
            for m in st.snapshots:
                if m not in self.snapshots_done and self.seconds >= m * 60:
                    self.snapshot(m)
            if self.seconds - last_ckpt >= st.checkpoint_minutes * 60:
                update["sheet"] = str(self.save())
                last_ckpt = self.seconds
            if on_update is not None:
                on_update(update)
            done, total = self._progress(budget)
            d = sum(losses[k] for k in ("d_image", "d_mouth", "d_dynamics")) if "d_image" in losses else None
            report(progress, done, total, progress_message(self.iteration, its, losses['g'], eta, d))
        update["sheet"] = str(self.save())
        for m in st.snapshots:  # a snapshot due exactly at the end of the budget
            if m not in self.snapshots_done and self.seconds >= m * 60 - 1e-6:
                self.snapshot(m)
        if on_update is not None:
            on_update(update)
        if stopped:
            raise Cancelled()
        return update

    def _done(self, budget: float | None) -> bool:
        st = self.settings
        if st.iterations is not None and self.iteration >= st.iterations:
            return True
        return budget is not None and self.seconds >= budget

    def _eta(self, budget: float | None, its: float) -> float:
        left = []
        if budget is not None:
            left.append(max(0.0, budget - self.seconds))
        if self.settings.iterations is not None:
            left.append(max(0, self.settings.iterations - self.iteration) / max(its, 1e-9))
        return min(left) if left else 0.0

    def _progress(self, budget: float | None) -> tuple[int, int]:
        if self.settings.iterations is not None and (budget is None or
                                                     self.iteration / self.settings.iterations
                                                     >= self.seconds / budget):
            return self.iteration, int(self.settings.iterations)
        return int(self.seconds), int(budget or 1)


@torch.no_grad()
def run_sequence(G: Generator, data: ClipData, frames: np.ndarray, device) -> np.ndarray:
    """G over consecutive ``frames`` of ``data`` from a reset (the previous outputs start as the
    first frame's base twice, the previous conditioning as its own): (F, S, S, 3) uint8."""
    was_training = G.training
    G.eval()
    cond = to_tensor(frame_condition(data, frames), device)            # (F, C, S, S)
    base = to_tensor(np.asarray(data.base[frames]), device)
    prev = torch.stack([base[0], base[0]])[None]
    hist = torch.stack([cond[0], cond[0]])
    outs = []
    for i in range(len(frames)):
        c = torch.cat([hist[0], hist[1], cond[i]])[None]
        out, _ = G(c, prev.flatten(1, 2), base[i:i + 1])
        outs.append(out[0])
        prev = torch.stack([prev[0, 1], out[0]])[None]
        hist = torch.stack([hist[1], cond[i]])
    G.train(was_training)
    return to_uint8(torch.stack(outs))


def _settings_dict(s: TrainSettings) -> dict:
    d = asdict(s)
    d["snapshots"] = list(s.snapshots)
    return d


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, buf.tobytes())
