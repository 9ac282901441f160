"""The network presets (``--preset``): layer codes and training shapes, without torch (the
command line lists them without loading it). The layer codes are explained in
``core.neural.networks``."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class NetworkConfig:
    """A network preset: the generator's layer codes and the training shapes that go with it.

    encoder, decoder : layer codes ("c64 d128 d256 d512 R512x4"), see the module docstring
    size : the crop's side in pixels (the network's input and output are size x size)
    ndf : the discriminators' first width (pix2pixHD: 64); d_layers: their strided layers (3)
    d_scales : D_I's spatial scales (pix2pixHD: 2 or 3)
    mouth : D_M's crop side (72 at 256, scaled with the crop)
    temporal_scales : D_D's frame steps (thesis: 1, 2, 4: three temporal scales)
    batch : windows per training step
    region : "head" (the thesis: a box 1.6 times the face, the whole head drawn) or "mouth" (a
        box around the mouth: a hybrid network refining the warp's mouth at a higher resolution)
    """

    name: str
    encoder: str
    decoder: str
    size: int
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 2
    mouth: int = 72
    temporal_scales: tuple[int, ...] = (1, 2, 4)
    batch: int = 1
    region: str = "head"
    description: str = ""

    def to_dict(self) -> dict:
        """The preset as JSON-ready values (the manifest's ``preset``)."""
        d = asdict(self)
        d["temporal_scales"] = list(self.temporal_scales)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        """The preset ``to_dict`` wrote; ValueError for unknown fields."""
        d = dict(d)
        d["temporal_scales"] = tuple(int(s) for s in d.get("temporal_scales", (1, 2, 4)))
        names = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown network settings {sorted(unknown)}")
        return cls(**d)


def _mouth(size: int) -> int:
    """D_M's crop side at a crop of ``size``: 72 at 256 (thesis), scaled, even."""
    return max(8, int(round(72 * size / 256 / 2)) * 2)


#: the presets (``--preset``): the thesis's exact network, and smaller ones for CPUs and tests
PRESETS: dict[str, NetworkConfig] = {c.name: c for c in (
    NetworkConfig("paper", "c64 d128 d256 d512 R512x4", "R512x5 u256 u128 u64", 256,
                  ndf=64, d_layers=3, d_scales=2, mouth=72, batch=1,
                  description="the thesis's layer code at 256x256, the whole head (a GPU)"),
    NetworkConfig("medium", "c32 d64 d128 d256 R256x3", "R256x3 u128 u64 u32", 256,
                  ndf=32, d_layers=3, d_scales=2, mouth=72, batch=2,
                  description="half the width and depth at 256x256 (a small GPU)"),
    NetworkConfig("cpu", "c8 d16 d32 d64 R64x2", "R64x2 u32 u16 u8", 128,
                  ndf=16, d_layers=3, d_scales=2, mouth=_mouth(128), batch=2,
                  description="the CPU default: the whole head at 128x128, an eighth of the width"),
    NetworkConfig("cpu-mouth", "c8 d16 d32 d64 R64x2", "R64x2 u32 u16 u8", 128,
                  ndf=16, d_layers=3, d_scales=2, mouth=64, batch=2, region="mouth",
                  description="the CPU hybrid default: the cpu network on the mouth region (the warp elsewhere)"),
    NetworkConfig("cpu-wide", "c16 d32 d64 d128 R128x2", "R128x2 u64 u32 u16", 128,
                  ndf=32, d_layers=3, d_scales=2, mouth=_mouth(128), batch=2,
                  description="the whole head at 128x128, a quarter of the width (a fast CPU)"),
    NetworkConfig("tiny", "c8 d16 d32 R32x1", "R32x1 u16 u8", 64,
                  ndf=8, d_layers=2, d_scales=1, mouth=_mouth(64), temporal_scales=(1, 2), batch=2,
                  description="64x64, for tests (trains in seconds)"),
    NetworkConfig("tiny-mouth", "c8 d16 d32 R32x1", "R32x1 u16 u8", 64,
                  ndf=8, d_layers=2, d_scales=1, mouth=32, temporal_scales=(1, 2), batch=2, region="mouth",
                  description="64x64 on the mouth region, for tests"),
)}
#: the default preset of a pure network and of a hybrid one (the mouth refiner: see NOTES.md)
DEFAULT_PRESET = "cpu"
DEFAULT_HYBRID_PRESET = "cpu-mouth"
REGIONS = ("head", "mouth")


def default_preset(hybrid: bool) -> str:
    """The preset used when none is named."""
    return DEFAULT_HYBRID_PRESET if hybrid else DEFAULT_PRESET


_TOKEN = re.compile(r"^([cdRu])(\d+)(?:x(\d+))?$")


def parse_code(code: str) -> list[tuple[str, int, int]]:
    """A layer code -> [(kind, filters, repeats)], e.g. "c64 R512x4" -> [("c", 64, 1), ("R", 512, 4)].
    Raises ValueError on an unknown token."""
    out = []
    for tok in code.split():
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"layer code {code!r}: {tok!r} is not ck, dk, uk or RkxN")
        kind, k, n = m.group(1), int(m.group(2)), int(m.group(3) or 1)
        if kind != "R" and m.group(3):
            raise ValueError(f"layer code {code!r}: only R takes a repeat count ({tok!r})")
        out.append((kind, k, n))
    return out
