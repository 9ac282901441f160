"""Where the network runs: ``--device auto|cpu|cuda[:N]``, and what each device gets.

CUDA gets mixed precision (autocast to float16 with a gradient scaler) and channels-last
tensors; the CPU trains without either (float32 autocast on a CPU is slower) and renders with
channels-last tensors and half its cores (``inference_memory_format``,
``cpu_inference_threads``). ``auto`` is CUDA when torch sees a GPU, else the CPU.
"""
from __future__ import annotations

import contextlib
import os

import torch

from core.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(spec: str = "auto") -> torch.device:
    """The torch device for ``spec`` ("auto", "cpu", "cuda" or "cuda:N"). InputError when a
    GPU is asked for and torch has none (saying whether this torch was built with CUDA)."""
    s = (spec or "auto").strip().lower()
    if s == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s == "cuda" or s.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise InputError(f"--device {spec}: no CUDA device is available (torch {torch.__version__}, {built})")
        index = int(s.split(":", 1)[1]) if ":" in s else 0
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise InputError(f"--device {spec}: expected one of auto, cpu, cuda, cuda:N")


def is_cuda(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU (AMP and channels-last apply)."""
    return torch.device(device).type == "cuda"


def memory_format(device: torch.device) -> torch.memory_format:
    """For training: channels_last on CUDA (tensor cores want NHWC), contiguous elsewhere."""
    return torch.channels_last if is_cuda(device) else torch.contiguous_format


def inference_memory_format(device: torch.device) -> torch.memory_format:
    """For the renderer's forward passes: channels_last on every device. On the CPU oneDNN's
    NHWC convolutions run the CPU presets' generator in 0.88x (``cpu-mouth``) and 0.78x
    (``cpu``) of the contiguous layout's time, same outputs (bench_neural.py backends,
    docs/bench/issue17/backends_threads1_loaded.json)."""
    return torch.channels_last


def cpu_inference_threads(cores: int | None = None) -> int:
    """Intra-op threads of torch for a renderer used inside the app: half the cores, at least one.

    The renderer never runs alone: the live preview tracks the camera on another thread, the
    editor decodes and draws, an export decodes and encodes. With as many torch threads as cores
    an OpenMP barrier waits on a thread the OS has given to someone else: on this 2-core machine
    under load the ``cpu-mouth`` generator took 956 ms a frame with 2 threads against 18 ms with 1
    (bench_neural.py backends, docs/bench/issue17/backends_threads2_loaded.json)."""
    n = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, int(n) // 2)


def autocast(device: torch.device, enabled: bool = True):
    """float16 autocast on CUDA; a no-op context on the CPU."""
    if enabled and is_cuda(device):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device):
    """A gradient scaler for float16 training on CUDA; disabled (a pass-through) on the CPU."""
    return torch.amp.GradScaler("cuda", enabled=is_cuda(device))


def describe(device: torch.device) -> str:
    """"cuda:0 (NVIDIA ...)" or "cpu (N threads)"."""
    if is_cuda(device):
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
