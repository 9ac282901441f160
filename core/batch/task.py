"""The work of one clip in a batch: what a Dask worker runs, with the GUI's and the commands' functions.

:func:`run_clip` tracks the clip (``core.tracking.track_video``), fits it
(``core.fitting.clip.reconstruct_clip``), saves the results (``core.project.save_project``, or
``TrackResult.save`` / ``Reconstruction.save``), draws the report's thumbnail, and writes the
QA videos asked for (``core.qa.flow_video.write_flow_video``,
``core.qa.render_video.write_render_video``); then the record ``metrics.json``
(core/batch/record.py). Frames are streamed from the file by each step, never held as a clip.

Failures stay with their clip: any exception (a corrupt file, no face, a full disk, a bug) is
recorded as the clip's error and the task returns normally, so the batch goes on. A worker
that dies mid-clip (killed, out of memory, a crash in native code) cannot record anything: the
scheduler runs the task again elsewhere, and the clip's start counter on disk
(``record.next_attempt``) makes the start after ``retries`` such deaths record the failure
instead of trying again, so a clip that always kills its worker cannot take the cluster down.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from core.batch.inputs import ClipSpec
from core.batch.metrics import Usage, fit_metrics, track_metrics
from core.batch.record import (FORMAT, VERSION, clear_attempts, clear_outputs, incomplete_reason, input_fingerprint,
                               next_attempt, read_record, worker_name, write_record)
from core.errors import InputError, UserFacingError

#: the steps a batch can run, in order; each needs the ones before it up to "reconstruct"
STEPS = ("track", "reconstruct", "flow", "render")
DEFAULT_STEPS = ("track", "reconstruct")
#: what each step needs done first
_NEEDS = {"track": (), "reconstruct": ("track",), "flow": ("track", "reconstruct"),
          "render": ("track", "reconstruct")}


def parse_steps(text: str) -> tuple[str, ...]:
    """``"track,reconstruct,flow"`` -> the steps in pipeline order, with the steps they need
    added (``"flow"`` -> track, reconstruct, flow). InputError naming an unknown step."""
    names = [s.strip().lower() for s in str(text).split(",") if s.strip()]
    unknown = [s for s in names if s not in STEPS]
    if unknown or not names:
        raise InputError(f"--steps {text!r}: expected a comma-separated list of {', '.join(STEPS)}")
    wanted = set(names)
    for s in names:
        wanted.update(_NEEDS[s])
    return tuple(s for s in STEPS if s in wanted)


@dataclass(frozen=True)
class BatchJob:
    """What every clip of one batch run shares (sent to the workers with each task).

    outdir : the batch folder (on storage every worker reaches: the same path everywhere)
    steps : from STEPS, in order (``parse_steps``)
    retries : how many times a clip whose worker died is started again before it is failed
    run_id : this run's id (a resumed run is a new run: its clips' start counts begin again)
    resume : skip clips whose results are complete (record.incomplete_reason)
    thumbnail_px : the longer side of the report's thumbnails
    """

    outdir: str
    steps: tuple[str, ...] = DEFAULT_STEPS
    retries: int = 2
    run_id: str = ""
    resume: bool = False
    thumbnail_px: int = 256

    def request(self, clip: ClipSpec) -> dict:
        """What was asked of a clip: a complete earlier result counts only for the same request."""
        return dict(steps=list(self.steps), model=clip.model, max_frames=clip.max_frames)


def run_clip(clip: ClipSpec, job: BatchJob) -> dict:
    """Process one clip into ``job.outdir/clip.clip_id/`` and return its record (the dict written
    to ``metrics.json``; with ``resumed: True`` when a complete earlier result was kept). Never
    raises for the clip's own failure: the record says ``status: "failed"`` and why."""
    from core.render.memory import retain_freed_memory

    # Freed heap is kept for reuse (bounded: 2 arenas x 64 MB) instead of going back to the OS at
    # once, as Dask's nanny sets for its workers (MALLOC_TRIM_THRESHOLD_=65536): that churn made
    # 10x the minor page faults and 17-20 % more CPU per clip (bench/bench_batch_settings.py,
    # NOTES.md issue 18).
    retain_freed_memory()
    clip_dir = Path(job.outdir) / clip.clip_id
    request = job.request(clip)
    if job.resume:
        earlier = read_record(clip_dir)
        if incomplete_reason(clip_dir, earlier, request, clip.path) is None:
            return dict(earlier, resumed=True)
    clip_dir.mkdir(parents=True, exist_ok=True)
    attempt = next_attempt(clip_dir, job.run_id)
    record = dict(format=FORMAT, version=VERSION, clip_id=clip.clip_id, input=dict(path=clip.path),
                  request=request, status="failed", attempt=attempt, worker=worker_name())
    usage = Usage.start()
    if attempt > job.retries + 1:
        record.update(error=f"{clip.path}: the worker processing this clip stopped {attempt - 1} times before it "
                            f"finished (killed, out of memory, or a crash); given up after --retries {job.retries}",
                      error_type="WorkerDied")
    else:
        clear_outputs(clip_dir)
        try:
            record["input"].update(input_fingerprint(clip.path))
            _process(clip, job, clip_dir, record, usage)
            record["status"] = "done"
        except Exception as e:  # noqa: BLE001 (a clip's failure is recorded, the batch goes on)
            record.update(status="failed", error=failure_text(e, clip.path), error_type=type(e).__name__)
            if not isinstance(e, UserFacingError):
                record["traceback"] = traceback.format_exc(limit=12).splitlines()[-24:]
    record["usage"] = usage.finish()
    write_record(clip_dir, record)
    clear_attempts(clip_dir)
    return record


def code_version() -> str:
    """A fingerprint of this process's FaceStudio code (everything under core/ and the rig): the
    record's provenance, and what the runner compares between itself and every worker."""
    from core.result_cache import code_fingerprint

    return code_fingerprint(("core", "resources/rig"))[:16]


def failure_text(exc: BaseException, path: str) -> str:
    """One line about why a clip failed: a UserFacingError's own text (it names the file),
    otherwise the exception's type and text after the clip's path."""
    if isinstance(exc, UserFacingError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{path}: {type(exc).__name__}: {text[-1] if text else 'no details'}"


def _process(clip: ClipSpec, job: BatchJob, clip_dir: Path, record: dict, usage: Usage) -> None:
    """The steps of one clip (module docstring); fills ``record`` (figures, outputs)."""
    from core.batch.record import output_entries
    from core.batch.thumbnail import track_thumbnail, write_jpeg
    from core.qa.inputs import open_video
    from core.tracking import require_face, track_video

    record["code"] = code_version()
    written: list[str] = []
    source = open_video(clip.path)
    try:
        record["source_frames"] = int(source.frame_count)
        track = track_video(source, max_frames=clip.max_frames)
        require_face(track, clip.path)
        record["input"]["sha256"] = _sha256(clip.path)
        usage.lap("track")
        if "reconstruct" not in job.steps:
            track.save(clip_dir / "track.npz")
            written.append("track.npz")
            record.update(track_metrics(track))
            write_jpeg(clip_dir / "thumbnail.jpg", track_thumbnail(source, track, job.thumbnail_px))
            written.append("thumbnail.jpg")
            usage.lap("save")
        else:
            written += _reconstruct(clip, job, clip_dir, record, usage, source, track)
    finally:
        source.close()
    record["outputs"] = output_entries(clip_dir, written)


def _reconstruct(clip: ClipSpec, job: BatchJob, clip_dir: Path, record: dict, usage: Usage, source, track
                 ) -> list[str]:
    from core.batch.thumbnail import fit_thumbnail, write_jpeg
    from core.fitting.clip import reconstruct_clip
    from core.qa.clip import ClipMeshes

    fitted = reconstruct_clip(clip.path, clip.model, max_frames=clip.max_frames, track=track)
    rec, model = fitted.reconstruction, fitted.model
    usage.lap("reconstruct")
    figures = fit_metrics(track, rec)
    record.update(figures)
    written = _save_results(clip, clip_dir, rec, track, figures["worst_frame"], int(source.frame_count))
    meshes = ClipMeshes(rec, model)
    write_jpeg(clip_dir / "thumbnail.jpg", fit_thumbnail(source, meshes, track, figures["worst_frame"],
                                                         job.thumbnail_px))
    written.append("thumbnail.jpg")
    usage.lap("save")
    F = rec.num_frames
    if "flow" in job.steps:
        if F >= 2:
            from core.qa.flow_video import write_flow_video

            write_flow_video(source, meshes, clip_dir / "flow.mp4", F, 1)
            written.append("flow.mp4")
        else:
            record.setdefault("notes", []).append("no flow video: the clip has one frame")
        usage.lap("flow")
    if "render" in job.steps:
        from core.qa.render_video import write_render_video

        write_render_video(source, meshes, clip_dir / "overlay.mp4", F, "overlay", track=track)
        written.append("overlay.mp4")
        usage.lap("render")
    return written


def _save_results(clip: ClipSpec, clip_dir: Path, rec, track, worst_frame: int, source_frames: int) -> list[str]:
    """A whole clip: a project (the reconstruction and the track; it opens at the worst-fitting
    frame). A clip cut short by max_frames: ``reconstruction.npz`` and ``track.npz`` (a project
    covers its source frame for frame)."""
    if rec.num_frames == source_frames:
        from core.project import Project, save_project

        save_project(clip_dir / "project", Project(
            source=clip.path, model_spec=clip.model, reconstruction=rec, track=track,
            settings={"view": {"frame": int(worst_frame)}, "batch": {"clip_id": clip.clip_id}}))
        return ["project"]
    rec.save(clip_dir / "reconstruction.npz")
    track.save(clip_dir / "track.npz")
    return ["reconstruction.npz", "track.npz"]


def _sha256(path: str) -> str | None:
    """sha256 of an input file (the record's provenance); None for an image folder."""
    from core.checksum import sha256_of

    return sha256_of(path) if Path(path).is_file() else None
