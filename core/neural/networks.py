"""The video rendering network of Head2Head++ (thesis ch. 7, Eq. 7.4) and its discriminators.

Generator (Eq. 7.4): ``Y_t = G(X_{t-2:t}, Y_{t-2:t-1})``, run frame by frame. Two encoders of
the same layer code, one on the three conditioning frames concatenated, one on the two previous
outputs; their feature maps are added and decoded; the decoder ends in a 7x7 convolution with
tanh. Layer codes (vid2vid style, thesis L3943-3959):

- ``ck``: 7x7 Conv-BN-ReLU, stride 1, k filters (reflection padding);
- ``dk``: 3x3 Conv-BN-ReLU, stride 2;
- ``uk``: 3x3 transposed Conv-BN-ReLU, stride 1/2;
- ``RkxN``: N residual blocks of two 3x3 Conv-BN with k filters (ReLU between, identity skip).

The ``paper`` preset is the thesis's code at 256x256: encoders ``c64 d128 d256 d512 R512x4``,
decoder ``R512x5 u256 u128 u64``. Our addition: the last convolution also gives a mask logit;
the output is ``m * rgb + (1 - m) * base`` with ``m = sigmoid(logit)`` faded to 0 at the crop's
border, ``base`` being the picture the crop is pasted into (the warp's output for the hybrid
network, the target picture for the pure one), so the result blends into the full frame
without a seam.

Discriminators (pix2pixHD's multi-scale PatchGAN, LSGAN outputs, every layer's features kept
for feature matching): ``D_I`` on (conditioning, image) pairs, ``D_M`` on mouth crops of both,
``D_D`` on three frames plus the real frames' flow between them, one per temporal scale.

Tensors are (B, C, H, W) float, images in [-1, 1] (RGB), conditioning in [-1, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from core.neural.presets import NetworkConfig, parse_code

#: channels of one conditioning frame: NMFC (3) + eyes (3); the hybrid adds the warp's output (3)
COND_CHANNELS = 6
HYBRID_CHANNELS = 9


class ResBlock(nn.Module):
    """R_k: x + BN(conv3x3(ReLU(BN(conv3x3(x))))), reflection padded."""

    def __init__(self, k: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(k, k, 3, bias=False), nn.BatchNorm2d(k), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(k, k, 3, bias=False), nn.BatchNorm2d(k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, k, H, W) -> (B, k, H, W)."""
        return x + self.body(x)


def build_layers(code: str, in_channels: int) -> tuple[nn.Sequential, int]:
    """The layers of a code on ``in_channels`` inputs, and the channels they output.
    Convolutions feeding a BatchNorm have no bias (the BN's shift is the bias)."""
    layers: list[nn.Module] = []
    c = in_channels
    for kind, k, n in parse_code(code):
        if kind == "c":
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, k, 7, bias=False), nn.BatchNorm2d(k), nn.ReLU(True)]
        elif kind == "d":
            layers += [nn.Conv2d(c, k, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(k), nn.ReLU(True)]
        elif kind == "u":
            layers += [nn.ConvTranspose2d(c, k, 3, stride=2, padding=1, output_padding=1, bias=False),
                       nn.BatchNorm2d(k), nn.ReLU(True)]
        else:  # R
            if k != c:
                raise ValueError(f"layer code {code!r}: R{k} follows {c} channels (a residual block keeps them)")
            layers += [ResBlock(k) for _ in range(n)]
        c = k
    return nn.Sequential(*layers), c


def border_fade(size: int, width: int) -> torch.Tensor:
    """(1, 1, size, size): 1 inside, falling smoothly to 0 over ``width`` pixels at the border
    (the output mask's fade, so a crop pasted back leaves no edge)."""
    r = torch.arange(size, dtype=torch.float32)
    d = torch.minimum(r, size - 1 - r) / max(width, 1)
    ramp = torch.clamp(d, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    return (ramp[:, None] * ramp[None, :])[None, None]


class Generator(nn.Module):
    """The sequential generator (Eq. 7.4) with a soft output mask.

    forward(cond, prev, base):
      cond (B, 3 * C, S, S): the conditioning frames t-2, t-1, t concatenated (C = 6, or 9 hybrid)
      prev (B, 6, S, S): the previous two outputs t-2, t-1 (RGB in [-1, 1])
      base (B, 3, S, S): the picture under the crop in [-1, 1] (hybrid: the warp's output)
    returns (out, mask): out (B, 3, S, S) in [-1, 1], mask (B, 1, S, S) in [0, 1].
    """

    def __init__(self, config: NetworkConfig, cond_channels: int = COND_CHANNELS, mask_bias: float = 0.0):
        super().__init__()
        self.config = config
        self.cond_channels = cond_channels
        self.enc_cond, c1 = build_layers(config.encoder, 3 * cond_channels)
        self.enc_prev, c2 = build_layers(config.encoder, 6)
        self.decoder, c3 = build_layers(config.decoder, c1)
        if c1 != c2:
            raise ValueError("the two encoders must end with the same width")
        # RGB (tanh) and the mask logit, from one 7x7 convolution
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c3, 4, 7))
        with torch.no_grad():
            self.head[1].bias[3] = mask_bias
        size = config.size
        self.register_buffer("fade", border_fade(size, max(2, size // 32)), persistent=False)

    def forward(self, cond: torch.Tensor, prev: torch.Tensor, base: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(out, mask) for one frame; shapes in the class docstring."""
        h = self.enc_cond(cond) + self.enc_prev(prev)  # the two encoders' features are added
        y = self.head(self.decoder(h))
        rgb = torch.tanh(y[:, :3])
        mask = torch.sigmoid(y[:, 3:4]) * self.fade.to(y.dtype)
        return mask * rgb + (1 - mask) * base, mask


class PatchDiscriminator(nn.Module):
    """pix2pixHD's PatchGAN at one scale: C(ndf) 4x4/2 LReLU, then ``layers - 1`` more 4x4/2
    convolutions doubling the width (at most 8 ndf) with instance norm, one 4x4/1, and a 4x4/1
    convolution to one channel. forward(x (B, C, H, W)) -> the list of every block's output;
    the last is the patch map of LSGAN scores."""

    def __init__(self, in_channels: int, ndf: int = 64, layers: int = 3):
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 2), nn.LeakyReLU(0.2, True))]
        nf = ndf
        for _ in range(1, layers):
            prev, nf = nf, min(nf * 2, ndf * 8)
            blocks.append(nn.Sequential(nn.Conv2d(prev, nf, 4, 2, 2), nn.InstanceNorm2d(nf), nn.LeakyReLU(0.2, True)))
        prev, nf = nf, min(nf * 2, ndf * 8)
        blocks.append(nn.Sequential(nn.Conv2d(prev, nf, 4, 1, 2), nn.InstanceNorm2d(nf), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Conv2d(nf, 1, 4, 1, 2))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output for (B, C, H, W) input; the last is the score map."""
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``scales`` PatchDiscriminators on the input and its 2x, 4x... average-pooled copies.
    forward(x) -> one feature list per scale (finest first)."""

    def __init__(self, in_channels: int, ndf: int = 64, layers: int = 3, scales: int = 2):
        super().__init__()
        self.nets = nn.ModuleList(PatchDiscriminator(in_channels, ndf, layers) for _ in range(scales))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """One feature list per scale (finest first) for (B, C, H, W) input."""
        out = []
        for i, net in enumerate(self.nets):
            if i:
                x = self.down(x)
            out.append(net(x))
        return out


class DiscriminatorSet(nn.Module):
    """The three discriminators of Eqs. 7.5-7.9 for a preset.

    image : D_I on cat(X_t, Y_t): cond_channels + 3 channels, ``d_scales`` spatial scales
    mouth : D_M on cat(X_t^m, Y_t^m) mouth crops, one scale
    dynamics : per temporal scale s, D_D on cat(Y_t, Y_t+s, Y_t+2s, W_t->t+s, W_t+s->t+2s):
        9 + 4 channels (flows in pixels of the crop divided by the crop's side / 2)
    """

    def __init__(self, config: NetworkConfig, cond_channels: int = COND_CHANNELS):
        super().__init__()
        self.image = MultiscaleDiscriminator(cond_channels + 3, config.ndf, config.d_layers, config.d_scales)
        mouth_layers = max(1, min(config.d_layers, 2 if config.mouth < 48 else 3))
        self.mouth = MultiscaleDiscriminator(cond_channels + 3, config.ndf, mouth_layers, 1)
        self.dynamics = nn.ModuleList(
            MultiscaleDiscriminator(13, config.ndf, config.d_layers, 1) for _ in config.temporal_scales)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (weights and biases)."""
    return sum(p.numel() for p in module.parameters())


def fuse_batchnorm(module: nn.Module) -> nn.Module:
    """For inference: every Conv2d / ConvTranspose2d followed by a BatchNorm2d in a Sequential
    becomes one convolution with the normalisation folded into its weights (eval-mode
    statistics; the same outputs up to float rounding, one layer less to run). In place on a
    module in eval mode; returns it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if module.training:
        raise ValueError("fuse_batchnorm: put the module in eval mode first")
    for child in module.children():
        fuse_batchnorm(child)
    if isinstance(module, nn.Sequential):
        layers = list(module)
        for i in range(len(layers) - 1):
            conv, bn = layers[i], layers[i + 1]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                module[i + 1] = nn.Identity()
    return module
