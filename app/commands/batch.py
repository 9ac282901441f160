"""``main.py batch INPUTS... -o OUTDIR``: reconstruction and QA over many clips, on Dask.

INPUTS are video files, folders (every video under them), globs and CSV manifests
(``path[,model][,max_frames]``; core/batch/inputs.py). Each clip is tracked and fitted by the
same core functions as the ``track`` / ``reconstruct`` commands and the GUI, optionally with
the ``flow`` and ``render`` (overlay) QA videos, on the workers of a Dask cluster: a
LocalCluster of worker processes on this machine by default, or an existing cluster
(``--scheduler tcp://host:8786``; the workers must run this FaceStudio checkout and reach
INPUTS and OUTDIR by the same paths). Results go to ``OUTDIR/<clip-id>/`` (core/batch/record.py)
and ``OUTDIR/report.html`` / ``report.csv``; ``OUTDIR/batch.json`` lists the run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from app.commands import add_model_argument

NAME = "batch"
HELP = "reconstruct and QA many clips on Dask (local worker processes or a cluster), with resume and a report"

#: exit code when the batch ran to its end but some clips failed (each is in the report)
EXIT_SOME_FAILED = 3
#: while a batch runs, its report is rewritten this often (seconds)
REPORT_EVERY_S = 300.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    from core.batch.task import STEPS

    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (their videos, recursively), globs (quoted) or CSV manifests "
                        "(path[,model][,max_frames] per row)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="batch folder: one subfolder per clip, report.html, report.csv, batch.json")
    p.add_argument("--steps", default="track,reconstruct",
                   help=f"comma-separated, from {', '.join(STEPS)} (flow and render are the QA videos; the steps "
                        "they need are added; default track,reconstruct)")
    add_model_argument(p)
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="use only the first N frames of each clip (a manifest row may set its own)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: one per core)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="task threads per local worker (default 1: MediaPipe and the fit run threads of their own)")
    p.add_argument("--memory-limit", default="auto", metavar="SIZE",
                   help="memory per local worker, e.g. 6GB; a worker over it is restarted and its clip started "
                        "again (default auto: the machine's memory / workers)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:8786) instead of local workers")
    p.add_argument("--dashboard", default="127.0.0.1:8787", metavar="HOST:PORT",
                   help="local cluster's dashboard address (port 0: any free port; default 127.0.0.1:8787)")
    p.add_argument("--retries", type=int, default=2, metavar="N",
                   help="start a clip again up to N times when its worker dies (killed, out of memory) (default 2)")
    p.add_argument("--resume", action="store_true",
                   help="keep the clips of OUTDIR whose results are complete and match their checksums; "
                        "compute the rest")
    p.epilog = (f"Exit code 0 when every clip is done, {EXIT_SOME_FAILED} when some failed (each with its error "
                "in the report), 2 for bad arguments or inputs, 130 when interrupted (the report then shows the "
                "clips done so far).")


def run(args: argparse.Namespace) -> int:
    from core.batch.inputs import check_models, collect_clips
    from core.batch.report import is_batch_folder, rows_from, write_index, write_reports
    from core.batch.runner import ClusterOptions, open_cluster, run_batch
    from core.batch.task import BatchJob, parse_steps
    from core.errors import InputError

    for name, low in (("max_frames", 1), ("workers", 1), ("threads", 1), ("retries", 0)):
        v = getattr(args, name)
        if v is not None and v < low:
            raise InputError(f"--{name.replace('_', '-')} {v}: must be at least {low}")
    steps = parse_steps(args.steps)
    clips = collect_clips(args.inputs, args.model, args.max_frames)
    check_models(clips, here_too=not args.scheduler)
    outdir = Path(os.path.abspath(Path(args.output).expanduser()))
    _check_outdir(outdir, is_batch_folder(outdir))
    job = BatchJob(str(outdir), steps, retries=args.retries, resume=args.resume,
                   run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    options = ClusterOptions(scheduler=args.scheduler, workers=args.workers, threads=args.threads,
                             memory_limit=args.memory_limit, dashboard=args.dashboard, retries=args.retries)
    err = sys.stderr
    t0 = time.perf_counter()
    with open_cluster(options) as cluster:
        print(f"batch: {len(clips)} clip{'s' if len(clips) != 1 else ''} ({','.join(steps)}) -> {outdir}", file=err)
        print(f"batch: {cluster.description}; dashboard: {cluster.dashboard or 'not available'}", file=err)
        write_index(outdir, clips, job, "running", cluster=cluster.description, dashboard=cluster.dashboard)
        bar = BatchBar(err)
        outcome = run_batch(cluster.client, clips, job, on_status=_with_interim_reports(bar, outdir, clips))
        bar.close()
    wall = time.perf_counter() - t0
    rows = rows_from(outdir, clips, outcome.records)
    st = outcome.status
    not_run = len(clips) - st.finished
    summary = (f"{st.done} done ({st.resumed} kept from an earlier run), {st.failed} failed"
               + (f", {not_run} not run (interrupted)" if not_run else "")
               + f", {_duration(wall)} on {cluster.description}")
    write_reports(outdir, rows, title=f"FaceStudio batch: {outdir.name}",
                  summary=f"{st.resumed} kept from an earlier run; {_duration(wall)} on {cluster.description}; "
                          f"steps {','.join(steps)}; run {job.run_id}")
    write_index(outdir, clips, job, "interrupted" if outcome.interrupted else "finished",
                cluster=cluster.description, dashboard=cluster.dashboard, wall_s=round(wall, 1),
                counts=dict(done=st.done, failed=st.failed, resumed=st.resumed, not_run=not_run,
                            resubmitted=outcome.resubmitted))
    failed = [r for r in rows if r.status == "failed"]
    for r in failed[:10]:
        print(f"failed: {r.clip_id}: {(r.record or {}).get('error', '')}", file=err)
    if len(failed) > 10:
        print(f"failed: ... and {len(failed) - 10} more (report.csv lists them all)", file=err)
    print(f"{len(clips)} clips: {summary} -> {outdir / 'report.html'}")
    if outcome.interrupted:
        print("interrupted: run again with --resume to finish", file=err)
        return 130
    return EXIT_SOME_FAILED if failed else 0


def _with_interim_reports(bar, outdir: Path, clips):
    """The progress callback, also rewriting report.html / report.csv every REPORT_EVERY_S while a
    long batch runs (the clips finished so far; the others "not run" yet)."""
    from core.batch.report import rows_from, write_reports

    records: dict[str, dict] = {}
    last = [time.perf_counter()]

    def on_status(status, record) -> None:
        bar(status, record)
        if record is not None:
            records[record["clip_id"]] = record
        if time.perf_counter() - last[0] >= REPORT_EVERY_S:
            last[0] = time.perf_counter()
            write_reports(outdir, rows_from(outdir, clips, records, from_disk=False),
                          title=f"FaceStudio batch: {outdir.name}",
                          summary=f"running: {status.finished} of {status.total} clips finished so far")

    return on_status


def _check_outdir(outdir: Path, is_batch: bool) -> None:
    """OUTDIR is a new or empty folder, or a batch folder (results of other clips there stay); it
    is made, and must be writable, before any worker starts."""
    from core.errors import UserFacingError

    if outdir.exists() and not outdir.is_dir():
        raise UserFacingError(f"{outdir}: exists and is not a folder; -o names the batch folder")
    if outdir.is_dir() and not is_batch and any(outdir.iterdir()):
        raise UserFacingError(f"{outdir}: is a folder with other files in it, not a batch folder; "
                              "give a new or empty folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        probe = outdir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserFacingError(f"{outdir}: the batch folder cannot be written ({e.strerror or e})") from e


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class BatchBar:
    """The terminal's view of a batch (a ``core.batch.runner.StatusFn``).

    On a terminal: one line redrawn in place (clips done / failed / running, elapsed, ETA), with a
    line above it for each failed clip. Elsewhere (a log file, CI): one line per finished clip.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._drawn = False
        self._last = 0.0

    def __call__(self, status, record) -> None:
        if record is not None:
            failed = record.get("status") != "done"
            if self.tty:
                if failed:
                    self._clear()
                    self.stream.write(f"failed: {record.get('clip_id')}: {record.get('error', '')}\n")
            else:
                what = "kept" if record.get("resumed") else ("done" if not failed else "FAILED")
                t = (record.get("usage") or {}).get("wall_s")
                extra = f": {record.get('error', '')}" if failed else (f" in {t:.1f} s" if t and what == "done" else "")
                self.stream.write(f"[{status.finished}/{status.total}] {record.get('clip_id')} {what}{extra}\n")
                self.stream.flush()
                return
        if self.tty and (record is not None or time.perf_counter() - self._last >= 0.25):
            self._draw(status)

    def _draw(self, st) -> None:
        self._last = time.perf_counter()
        frac = st.finished / st.total if st.total else 1.0
        bar = "#" * int(frac * 24)
        text = (f"batch [{bar:<24}] {st.finished}/{st.total}  done {st.done}"
                + (f" ({st.resumed} kept)" if st.resumed else "")
                + f"  failed {st.failed}  running {st.running}  {_duration(st.elapsed_s)}  ETA {_duration(st.eta_s)}")
        self.stream.write("\r" + text[:150].ljust(100))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self._drawn = False

    def close(self) -> None:
        """End the bar's line (when one was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
