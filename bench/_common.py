"""What every bench script needs first: the repository on ``sys.path`` (so ``core`` and ``app``
import when a script runs as ``python bench/NAME.py``), where the shared data is, and the
cache folder for tracks and fits.

    import _common  # noqa: F401  (the repository on sys.path)
    from _common import CACHE, SHARED, VIDEOS

``FACESTUDIO_SHARED`` overrides where the shared data lives (default ``../shared`` beside the
repository), as for the tests.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
#: the shared data folder (``../shared``), its data and videos
SHARED = Path(os.environ.get("FACESTUDIO_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
VIDEOS = DATA / "videos"
#: tracks and fits the benches keep between runs (out/ is ignored by git)
CACHE = REPO / "out" / "cache"


def cached_track(path: Path, tag: str):
    """The whole-clip TrackResult of a video or image ``path``, cached as
    ``CACHE/fitbench_track_{tag}_{code}.npz`` (shared by bench_fitting, bench_flow_evidence, ...;
    ``code``: a fingerprint of core/tracking, so a changed tracker tracks again)."""
    from core.result_cache import code_fingerprint
    from core.tracking import TrackResult, track_image, track_video

    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"fitbench_track_{tag}_{code_fingerprint(('core/tracking',))[:10]}.npz"
    if out.exists():
        return TrackResult.load(out)
    if Path(path).suffix.lower() in (".jpg", ".png", ".jpeg"):
        import imageio.v3 as iio

        tr = track_image(iio.imread(path)[..., :3], source=str(path))
    else:
        tr = track_video(str(path))
    tr.save(out)
    return tr


def sample_live_stats(pipe, seconds: float, warmup_s: float) -> list:
    """Run ``pipe`` (a core.reenact.live.LivePipeline, not yet started) for ``warmup_s`` and
    then ``seconds``, taking its ``stats()`` once a second after the warm-up; the pipeline's own
    error, if it stopped on one, is raised. Returns the samples."""
    samples = []
    with pipe:
        time.sleep(warmup_s)
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end and pipe.running:
            time.sleep(1.0)
            samples.append(pipe.stats())
    if pipe.error is not None:
        raise pipe.error
    return samples
