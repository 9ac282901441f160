"""Project loader fuzzing at scale: 10,000 damaged projects (prints JSON).

The same damages and property as tests/test_project_fuzz.py (tests/project_fuzz.py): each
damaged project must load as a consistent project that saves and loads back, or be refused
with a UserFacingError naming the file. Here nothing stops at a failure: every outcome is
counted (loaded, refused by kind of message, and anything else with its traceback's last
line: there should be none), with the slowest load, so a hang or a slow path shows.

    .venv/bin/python bench/bench_project_fuzz.py [--examples 10000] [--seed 1] [--jobs 4] [--out out/fuzz.json]

``--jobs N`` splits the examples over N processes (seeds seed .. seed+N-1), summed in one report.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def fuzz(examples: int, seed_value: int) -> dict:
    """Run ``examples`` damaged projects with hypothesis seed ``seed_value``; the counts."""
    from hypothesis import HealthCheck, given, seed, settings

    from project_fuzz import apply_damage, check_outcome, damages, make_base

    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="facestudio-fuzz-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK)
                                 else None))
    base = make_base(root)
    outcomes: collections.Counter = collections.Counter()
    refusals: collections.Counter = collections.Counter()
    failures: list[dict] = []
    slowest = [0.0, None]
    n = [0]

    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(damages)
    def run(ds):
        n[0] += 1
        folder = root / f"p{n[0]}"
        shutil.copytree(base, folder, symlinks=True)
        try:
            for d in ds:
                apply_damage(folder, d, root / "outside")
            t = time.perf_counter()
            try:
                out = check_outcome(folder)
            except Exception as e:  # noqa: BLE001 (counted: the property failed)
                outcomes["failed"] += 1
                failures.append(dict(damages=repr(ds), error=f"{type(e).__name__}: {e}"[:300],
                                     where=traceback.format_exc().strip().splitlines()[-3:]))
                return
            dt = time.perf_counter() - t
            if dt > slowest[0]:
                slowest[:] = [dt, repr(ds)]
            kind = out.split(":")[0]
            outcomes[kind] += 1
            if kind == "refused":
                msg = re.sub(r"\S*/p\d+\S*", "FILE", out.split(": ", 1)[1])
                refusals[re.sub(r"\d+", "N", msg)[:90]] += 1
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    run()
    shutil.rmtree(root, ignore_errors=True)
    return dict(examples=n[0], outcomes=dict(outcomes), failures=failures[:20], slowest=slowest,
                refusals=dict(refusals))


def _worker(args) -> dict:
    return fuzz(*args)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    shares = [args.examples // args.jobs + (k < args.examples % args.jobs) for k in range(args.jobs)]
    tasks = [(n, args.seed + k) for k, n in enumerate(shares)]
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            parts = pool.map(_worker, tasks)
    else:
        parts = [fuzz(*tasks[0])]
    elapsed = time.perf_counter() - t0
    outcomes: collections.Counter = collections.Counter()
    refusals: collections.Counter = collections.Counter()
    for part in parts:
        outcomes.update(part["outcomes"])
        refusals.update(part["refusals"])
    slowest = max((p["slowest"] for p in parts), key=lambda s: s[0])
    failures = [f for p in parts for f in p["failures"]]
    result = dict(benchmark="project_fuzz", examples=sum(p["examples"] for p in parts),
                  seeds=[t[1] for t in tasks], seconds=round(elapsed, 1), outcomes=dict(outcomes),
                  failures=failures[:20], slowest_check_s=round(slowest[0], 3), slowest_damages=slowest[1],
                  refusal_kinds=len(refusals), top_refusals=dict(refusals.most_common(25)),
                  load_average=[round(v, 2) for v in os.getloadavg()])
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(text)
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
