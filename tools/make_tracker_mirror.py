"""Write ``resources/rig/tracker_mirror.json``: each tracker point's left-right mirror partner.

Why a file: ``core/tracking`` may not import ``core/model`` (the layering), and the partner
map is a fixed property of MediaPipe's canonical face mesh. Method: the canonical mesh with
the built-in model's iris points (core/model/builtin.py), mirrored in x; each point's partner
is the nearest point of the mirrored mesh (the mesh is symmetric to well under a millimetre;
the tool refuses otherwise). tests/test_tracking.py checks the file against a fresh run.

Usage: python tools/make_tracker_mirror.py [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "resources" / "rig" / "tracker_mirror.json"


def mirror_partners() -> np.ndarray:
    from scipy.spatial import cKDTree

    from core.model import canonical as cm
    from core.model.builtin import _add_irises

    v = _add_irises(cm.read_canonical_mesh())[0].astype(np.float64)
    dist, idx = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    if dist.max() > 0.05 or len(np.unique(idx)) != len(v) or (idx[idx] != np.arange(len(v))).any():
        raise SystemExit(f"the canonical mesh is not left-right symmetric (worst {dist.max():.3f} cm)")
    return idx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    doc = {"provenance": "tools/make_tracker_mirror.py: MediaPipe's canonical face mesh (from the tracker's "
                         "model file) with the built-in model's iris points, nearest point mirrored in x",
           "partner": [int(i) for i in mirror_partners()]}
    Path(args.out).write_text(json.dumps(doc) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
