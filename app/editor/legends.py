"""The legends of what the editor colours: the fit-error heat and the 3D flow (colour and
arrows), with their units, built from core's own colour codings so they cannot drift apart."""
from __future__ import annotations

import numpy as np

from core.flow.colour import flow3d_to_rgb
from core.qa.frame_scene import ARROW_GAIN, ERROR_RED_PX
from core.render.overlay import heat_colours
from widgets.legend import Legend

#: samples along a legend's colour ramp
SAMPLES = 13


def fit_error_legend() -> Legend:
    """The fit-error points: distance from each tracked landmark to the fitted face, in pixels."""
    t = np.linspace(0.0, 1.0, SAMPLES)
    rgb = heat_colours(t * ERROR_RED_PX, ERROR_RED_PX)
    ticks = [(k / 4, f"{ERROR_RED_PX * k / 4:g}") for k in range(4)] + [(1.0, f"\u2265{ERROR_RED_PX:g} px")]
    return Legend("fit error: landmark to fitted face (px)", list(zip(t, rgb)), ticks)


def flow_speed_legend(scale: float, unit: str, per: str = "frame", factor: float = 1.0,
                      arrows: bool = False) -> Legend:
    """Brightness of the 3D flow colour: black = still, full colour at ``scale`` (the clip's
    99th percentile of the flow magnitude, in the flow's own unit), shown in ``unit`` after
    multiplying by ``factor`` (cm -> mm: 10)."""
    t = np.linspace(0.0, 1.0, SAMPLES)
    rgb = flow3d_to_rgb(np.stack([t, np.zeros_like(t), np.zeros_like(t)], axis=1), 1.0)  # moving right
    top = scale * factor
    ticks = [(0.0, "0"), (0.5, f"{top / 2:.2g}"), (1.0, f"\u2265{top:.2g}")]
    note = f"arrows: image motion \u00d7{ARROW_GAIN:g}" if arrows else "brightness: speed (clip's 99th pct = full)"
    return Legend(f"3D flow speed ({unit} per {per})", list(zip(t, rgb)), ticks, note)


def flow_direction_legend() -> Legend:
    """Hue of the 3D flow colour: the direction of the motion in the picture (Eq. 6.5)."""
    theta = np.linspace(-np.pi, np.pi, 4 * (SAMPLES - 1) + 1)
    d = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=1)  # image y down
    rgb = flow3d_to_rgb(d, 1.0)
    t = (theta + np.pi) / (2 * np.pi)
    ticks = [(0.0, "left"), (0.25, "up"), (0.5, "right"), (0.75, "down"), (1.0, "left")]
    return Legend("3D flow direction (hue)", list(zip(t, rgb)), ticks,
                  "paler: towards the viewer, deeper: away")
