"""The losses of Head2Head++ (thesis Eqs. 7.5-7.9) and the substitute for its VGG loss.

LSGAN (Eqs. 7.7-7.9, real -> 1, fake -> 0, as the equations say; the prose's labels are the
other way round): ``L_D = 1/2 E[(D(real) - 1)^2] + 1/2 E[D(fake)^2]``; the generator's
adversarial term ``1/2 E[(D(fake) - 1)^2]`` per discriminator (Eq. 7.5). Feature matching:
L1 between a discriminator's intermediate features on the real and on the generated input,
averaged over layers and scales (pix2pixHD), for D_I and D_D (Eq. 7.6).

The VGG loss (lambda_vgg = 10, Eq. 7.6) needs ImageNet weights that cannot be had offline. Its
stand-in: ``0.16 L1 + 0.84 (1 - MS-SSIM)``, the mix Zhao et al. (IEEE TCI 2017, "Loss Functions
for Image Restoration with Neural Networks") found best for image synthesis: MS-SSIM keeps
local structure and contrast at several scales (what the VGG features' multi-layer comparison
rewards: edges, texture), L1 keeps colours and flat regions right, where SSIM is blind to
uniform shifts. It is differentiable and cheap. What it does to the result is measured in
NOTES.md (bench/bench_neural.py --ablation).

Images are (B, 3, H, W) in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)

#: MS-SSIM's scale weights (Wang et al. 2003), finest first
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: the L1 share of the reconstruction loss (Zhao et al.'s alpha = 0.84 on MS-SSIM)
L1_SHARE = 0.16


def lsgan_d(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Eq. 7.7 for a multi-scale discriminator: the outputs on real and on generated input (one
    feature list per scale; the last entry of each is the score map)."""
    loss = 0.0
    for r, f in zip(real, fake):
        loss = loss + 0.5 * ((r[-1] - 1) ** 2).mean() + 0.5 * (f[-1] ** 2).mean()
    return loss / len(real)


def lsgan_g(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """The generator's LSGAN term for one discriminator (Eq. 7.5): 1/2 E[(D(fake) - 1)^2]."""
    return sum(0.5 * ((f[-1] - 1) ** 2).mean() for f in fake) / len(fake)


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the intermediate features (every block but the score) of a discriminator on
    real and on generated input, averaged over layers and scales; the real side is a constant."""
    loss, n = 0.0, 0
    for r, f in zip(real, fake):
        for a, b in zip(r[:-1], f[:-1]):
            loss = loss + F.l1_loss(b, a.detach())
            n += 1
    return loss / max(n, 1)


def _gaussian(window: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(window, dtype=dtype, device=device) - (window - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, window, window).contiguous()


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean luminance and contrast-structure terms of SSIM per image: (B,), (B,). Inputs in [0, 1]."""
    c = x.shape[1]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = F.conv2d(x, kernel, groups=c), F.conv2d(y, kernel, groups=c)
    sxx = F.conv2d(x * x, kernel, groups=c) - mx * mx
    syy = F.conv2d(y * y, kernel, groups=c) - my * my
    sxy = F.conv2d(x * y, kernel, groups=c) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-scale SSIM (B,) of two image batches in [-1, 1]: a Gaussian window (sigma 1.5; 11
    wide, 7 below 176 px), as many of the 5 scales as keep the window inside the image (weights
    renormalised), negative contrast terms clamped at 0 so the product stays defined."""
    x, y = (x.float() + 1) / 2, (y.float() + 1) / 2
    side = min(x.shape[-2:])
    window = 11 if side >= 176 else 7
    scales = 1
    while scales < len(MS_WEIGHTS) and side // (2 ** scales) >= window:
        scales += 1
    w = torch.tensor(MS_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    kernel = _gaussian(window, 1.5, x.shape[1], x.device, x.dtype)
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(scales):
        ssim, cs = _ssim_parts(x, y, kernel)
        term = ssim if i == scales - 1 else cs
        out = out * torch.clamp(term, min=1e-6) ** w[i]
        if i < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def reconstruction(fake: torch.Tensor, real: torch.Tensor, kind: str = "l1+msssim") -> torch.Tensor:
    """The VGG stand-in (see the module docstring): "l1+msssim" (default), "l1", or "none" (0)."""
    if kind == "none":
        return fake.new_zeros(())
    l1 = F.l1_loss(fake, real)
    if kind == "l1":
        return l1
    if kind != "l1+msssim":
        raise ValueError(f"unknown reconstruction loss {kind!r}")
    return L1_SHARE * l1 + (1 - L1_SHARE) * (1 - ms_ssim(fake, real)).mean()
