"""A trained renderer on disk: tensors only (safetensors) and a JSON manifest.

A renderer folder holds ``manifest.json`` (what the renderer is: format and version, the network
preset with its full layer codes, hybrid or pure, the crop box, the face model, the training
frames, and the sha256 and size of every tensor file) and ``generator.safetensors`` (the
generator's weights and BatchNorm statistics). Training adds ``checkpoint.safetensors`` /
``checkpoint.json`` (discriminators, optimisers, random states, loss history: what resuming
needs), ``validation/`` sheets and optional ``snapshots/``.

safetensors holds raw tensors and a JSON header: loading one never runs code. Every read checks
the file's size and sha256 against the manifest first, then the tensor names and shapes against
the network the manifest describes, so a truncated, altered or mismatched file is refused with
a message naming the file and what is wrong (``RendererFileError``, an ``InputError``).
Writes are atomic (``core.atomic``): the manifest is written last, so a renderer folder is
either the old one or the new one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from core.atomic import write_bytes_atomic, write_text_atomic
from core.checksum import sha256_of
from core.errors import InputError

FORMAT = "facestudio.neural-renderer"
VERSION = 1
MANIFEST = "manifest.json"
GENERATOR = "generator.safetensors"
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"


class RendererFileError(InputError):
    """A renderer file that cannot be used: missing, truncated, altered or not matching."""


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> dict:
    """Write ``tensors`` (name -> tensor, any device) to a safetensors file atomically; returns
    its manifest entry {"sha256", "bytes"}."""
    from safetensors.torch import save

    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()})
    write_bytes_atomic(path, data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def load_tensors(path: str | Path, entry: dict | None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (on the CPU), after checking its size and sha256 against
    the manifest ``entry``. RendererFileError naming the file otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    p = Path(path)
    if not p.is_file():
        raise RendererFileError(f"{p}: missing (the renderer folder is incomplete)")
    if entry is None:
        raise RendererFileError(f"{p}: not listed in the manifest")
    size = p.stat().st_size
    if size != int(entry.get("bytes", -1)):
        raise RendererFileError(f"{p}: {size} bytes, the manifest says {entry.get('bytes')} "
                                "(truncated or replaced)")
    if sha256_of(p) != entry.get("sha256"):
        raise RendererFileError(f"{p}: its sha256 does not match the manifest (the file was changed)")
    try:
        return load(p.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise RendererFileError(f"{p}: not a readable safetensors file ({e})") from e


def write_manifest(folder: str | Path, manifest: dict) -> None:
    """Write ``manifest.json`` (atomic; after the files it lists)."""
    m = dict(manifest)
    m["format"], m["version"] = FORMAT, VERSION
    write_text_atomic(Path(folder) / MANIFEST, json.dumps(m, indent=1, sort_keys=True))


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a renderer folder. RendererFileError when it is missing, not JSON, of
    another format or of a newer version."""
    p = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise RendererFileError(f"{folder}: no such renderer folder")
    if not p.is_file():
        raise RendererFileError(f"{folder}: no {MANIFEST}; not a trained renderer (train one with "
                                "'main.py train-renderer')")
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RendererFileError(f"{p}: not valid JSON ({e})") from e
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise RendererFileError(f"{p}: not a FaceStudio neural renderer manifest")
    if int(m.get("version", 0)) > VERSION:
        raise RendererFileError(f"{p}: version {m.get('version')} is newer than this FaceStudio reads ({VERSION})")
    return m


def check_state(what: str, expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    """RendererFileError when ``got`` has other tensor names or shapes than ``expected`` (the
    network the manifest describes)."""
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        raise RendererFileError(f"{what}: tensors do not match the network in the manifest "
                                f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
                                f"unexpected {extra[:4]}{'...' if len(extra) > 4 else ''})")
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise RendererFileError(f"{what}: tensor {k} has shape {tuple(got[k].shape)}, the network "
                                    f"in the manifest needs {tuple(v.shape)}")
