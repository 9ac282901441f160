"""A batch folder as a whole: its index (``batch.json``), reading its clips back, and the report.

``OUTDIR/batch.json`` lists the run's clips in input order with what was asked; it is written
when a run starts and again when it ends (``state``: running, finished or interrupted), and it
is what marks a folder as a batch (the GUI opens such a folder as a QA list).

``report.html`` is one page that needs no server and nothing from the network: a summary, two
histograms of the fit error (every fitted frame of every clip, pooled; and the clips by their
median) as inline SVG, and a table of the clips, sortable by any column (click a header; the
order is kept in the address as ``#sort=KEY`` or ``#sort=-KEY``), with each clip's thumbnail
(embedded as data while the batch has at most ``EMBED_LIMIT`` clips, else linked to the
clip's ``thumbnail.jpg`` beside the page) and links to its outputs. ``report.csv`` has the same
rows. Both are written atomically.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_text_atomic
from core.batch.inputs import ClipSpec
from core.batch.metrics import HIST_EDGES_PX
from core.batch.record import RECORD_NAME, read_record
from core.errors import InputError
from core.jobs import CancelToken, ProgressFn, check, report

INDEX_NAME = "batch.json"
INDEX_FORMAT = "facestudio.batch"
HTML_NAME = "report.html"
CSV_NAME = "report.csv"
#: up to this many clips, the page holds its thumbnails; above, it links to the files beside it
EMBED_LIMIT = 1000

#: the table's columns: (key, heading, kind) with kind "num" or "text"
COLUMNS = (
    ("clip_id", "clip", "text"), ("input", "input", "text"), ("status", "status", "text"),
    ("frames", "frames", "num"), ("tracked_pct", "tracked %", "num"), ("fit_median_px", "fit median px", "num"),
    ("fit_p95_px", "fit p95 px", "num"), ("jitter_px", "jitter px", "num"), ("worst_frame", "worst frame", "num"),
    ("time_s", "time s", "num"), ("cpu_s", "CPU s", "num"), ("peak_rss_mb", "peak MB", "num"),
    ("attempt", "attempts", "num"), ("error", "error", "text"),
)


def is_batch_folder(path) -> bool:
    """True when ``path`` is a folder holding a batch index (``batch.json``)."""
    p = Path(path)
    return p.is_dir() and (p / INDEX_NAME).is_file()


def write_index(outdir: Path, clips: list[ClipSpec], job, state: str, **extra) -> None:
    """Write ``batch.json``: the clips in order, the request (``job``: a core.batch.task.BatchJob),
    ``state`` and anything in ``extra`` (cluster, dashboard, counts, times)."""
    doc = dict(format=INDEX_FORMAT, version=1, run_id=job.run_id, state=state,
               written=time.strftime("%Y-%m-%d %H:%M:%S"), steps=list(job.steps), retries=job.retries,
               clips=[dict(clip_id=c.clip_id, path=c.path, model=c.model, max_frames=c.max_frames) for c in clips])
    doc.update(extra)
    write_text_atomic(Path(outdir) / INDEX_NAME, json.dumps(doc, indent=1))


def read_index(outdir) -> dict:
    """``batch.json`` of a batch folder; InputError when it is missing or damaged."""
    p = Path(outdir) / INDEX_NAME
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{outdir}: not a batch folder ({INDEX_NAME} is missing)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{p}: cannot be read ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT or not isinstance(doc.get("clips"), list):
        raise InputError(f"{p}: not a FaceStudio batch index")
    return doc


@dataclass
class ReportRow:
    """One clip in the report: its record's figures, flattened. ``record`` is None for a clip that
    was never run (an interrupted batch): status "not run"."""

    clip_id: str
    input: str
    status: str
    record: dict | None

    def value(self, key: str):
        """The column ``key``'s value (None when the clip has no such figure)."""
        r = self.record or {}
        usage = r.get("usage") or {}
        if key in ("clip_id", "input", "status"):
            return getattr(self, key)
        if key == "time_s":
            return usage.get("wall_s")
        if key in ("cpu_s", "peak_rss_mb"):
            return usage.get(key)
        return r.get(key)

    @property
    def outputs(self) -> dict:
        return (self.record or {}).get("outputs") or {}

    @property
    def project(self) -> str | None:
        """The clip's project folder (relative to the batch folder) when it has one."""
        return f"{self.clip_id}/project" if any(k.startswith("project/") for k in self.outputs) else None


def load_rows(outdir, progress: ProgressFn | None = None, cancel: CancelToken | None = None
              ) -> tuple[dict, list[ReportRow]]:
    """The batch index and one row per clip in input order, each from the clip's ``metrics.json``
    as it is on disk now (a clip without a record: "not run"). InputError for a folder that is
    not a batch."""
    outdir = Path(outdir)
    index = read_index(outdir)
    return index, rows_from(outdir, index["clips"], {}, progress, cancel)


def rows_from(outdir: Path, clips: list, records: dict[str, dict], progress: ProgressFn | None = None,
              cancel: CancelToken | None = None, from_disk: bool = True) -> list[ReportRow]:
    """Rows for ``clips`` (ClipSpecs or the index's dicts) from ``records`` by clip id, else (with
    ``from_disk``) from the records on disk, else "not run"."""
    rows = []
    for i, c in enumerate(clips):
        check(cancel)
        report(progress, i, len(clips), "reading the clips' records")
        cid, path = (c.clip_id, c.path) if isinstance(c, ClipSpec) else (str(c["clip_id"]), str(c["path"]))
        rec = records.get(cid) or (read_record(Path(outdir) / cid) if from_disk else None)
        status = (rec or {}).get("status", "not run")
        rows.append(ReportRow(cid, path, status, rec))
    return rows


def load_clip_arrays(outdir, clip_id: str, progress: ProgressFn | None = None, cancel: CancelToken | None = None):
    """(Reconstruction, TrackResult, FaceModel) of a clip saved as arrays (``reconstruction.npz``
    and ``track.npz``: a clip cut short by --max-frames); InputError naming the file when one is
    missing or damaged. A whole clip's results are a project instead: open that."""
    from core.fitting.reconstruction import Reconstruction
    from core.model.registry import load_model
    from core.tracking.result import TrackResult

    d = Path(outdir) / clip_id
    report(progress, 0, 3, "reading the reconstruction")
    rec = Reconstruction.load(d / "reconstruction.npz")
    check(cancel)
    report(progress, 1, 3, "reading the track")
    track = TrackResult.load(d / "track.npz")
    check(cancel)
    report(progress, 2, 3, "loading the face model")
    model = load_model(rec.model_spec or "builtin")
    report(progress, 3, 3, "done")
    return rec, track, model


def write_reports(outdir, rows: list[ReportRow], title: str = "FaceStudio batch", summary: str = "") -> None:
    """``report.csv`` and ``report.html`` of ``rows`` in ``outdir`` (module docstring)."""
    outdir = Path(outdir)
    write_text_atomic(outdir / CSV_NAME, report_csv(rows))
    write_text_atomic(outdir / HTML_NAME, report_html(outdir, rows, title, summary))


def report_csv(rows: list[ReportRow]) -> str:
    """The table as CSV (a header row, then one row per clip; empty cells where a figure is missing)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _, _ in COLUMNS])
    for row in rows:
        w.writerow(["" if _missing(v) else v for v in (row.value(k) for k, _, _ in COLUMNS)])
    return buf.getvalue()


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def _fmt(v, kind: str) -> str:
    if _missing(v):
        return ""
    if kind == "num" and isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def pooled_histogram(rows: list[ReportRow]) -> list[int]:
    """Every fitted frame of every clip, counted in the bins of ``HIST_EDGES_PX`` (+ one above)."""
    total = [0] * len(HIST_EDGES_PX)
    for row in rows:
        h = (row.record or {}).get("fit_error_hist") or []
        if len(h) == len(total):
            total = [a + int(b) for a, b in zip(total, h)]
    return total


def svg_histogram(counts: list[int], edges: list[float], title: str, x_label: str, y_label: str,
                  width: int = 520, height: int = 200) -> str:
    """A bar chart as inline SVG: ``counts[i]`` over [edges[i], edges[i+1]) (len(edges) ==
    len(counts) + 1); the axis labels and the largest count written on it."""
    m = dict(left=46, right=10, top=24, bottom=36)
    pw, ph = width - m["left"] - m["right"], height - m["top"] - m["bottom"]
    peak = max(counts) if counts and max(counts) > 0 else 1
    n = max(len(counts), 1)
    bw = pw / n
    parts = [f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{width / 2:.0f}" y="15" text-anchor="middle" class="t">{html.escape(title)}</text>']
    for i, c in enumerate(counts):
        h = ph * c / peak
        x = m["left"] + i * bw
        parts.append(f'<rect x="{x:.1f}" y="{m["top"] + ph - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                     f'height="{h:.1f}"><title>{edges[i]:g}-{edges[i + 1]:g}: {c}</title></rect>')
    y0 = m["top"] + ph
    parts.append(f'<line x1="{m["left"]}" y1="{y0}" x2="{m["left"] + pw}" y2="{y0}" class="ax"/>')
    parts.append(f'<line x1="{m["left"]}" y1="{m["top"]}" x2="{m["left"]}" y2="{y0}" class="ax"/>')
    for i in range(0, n + 1, max(1, n // 8)):
        x = m["left"] + i * bw
        parts.append(f'<text x="{x:.1f}" y="{y0 + 13}" text-anchor="middle">{edges[i]:g}</text>')
    parts.append(f'<text x="{m["left"] - 4}" y="{m["top"] + 4}" text-anchor="end">{peak}</text>')
    parts.append(f'<text x="{m["left"] - 4}" y="{y0}" text-anchor="end">0</text>')
    parts.append(f'<text x="{m["left"] + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{html.escape(x_label)}'
                 '</text>')
    parts.append(f'<text x="12" y="{m["top"] + ph / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {m["top"] + ph / 2:.0f})">{html.escape(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def clip_histogram(rows: list[ReportRow], key: str = "fit_median_px", bins: int = 20) -> tuple[list[int], list[float]]:
    """Clips by ``key`` (counts, edges): ``bins`` equal bins from 0 to the largest value."""
    vals = [float(v) for v in (r.value(key) for r in rows) if not _missing(v)]
    top = max(vals) if vals else 1.0
    step = _nice_step(top / bins)
    n = max(1, int(math.ceil(top / step + 1e-9)))
    edges = [round(i * step, 6) for i in range(n + 1)]
    counts = [0] * n
    for v in vals:
        counts[min(int(v / step), n - 1)] += 1
    return counts, edges


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at least ``raw``."""
    if raw <= 0:
        return 1.0
    k = 10 ** math.floor(math.log10(raw))
    return next(f * k for f in (1, 2, 2.5, 5, 10) if f * k >= raw - 1e-12)


def _thumbnail_html(outdir: Path, row: ReportRow, embed: bool) -> str:
    if "thumbnail.jpg" not in row.outputs:
        return ""
    rel = f"{row.clip_id}/thumbnail.jpg"
    if embed:
        try:
            data = base64.b64encode((outdir / rel).read_bytes()).decode("ascii")
        except OSError:
            return ""
        src = f"data:image/jpeg;base64,{data}"
    else:
        src = html.escape(rel)
    return f'<img class="thumb" loading="lazy" alt="{html.escape(row.clip_id)}" src="{src}">'


def _links_html(row: ReportRow) -> str:
    links = []
    if row.project:
        links.append((row.project, "project"))
    for name, label in (("overlay.mp4", "overlay"), ("flow.mp4", "flow"), ("reconstruction.npz", "fit"),
                        ("track.npz", "track")):
        if name in row.outputs:
            links.append((f"{row.clip_id}/{name}", label))
    if row.record is not None:
        links.append((f"{row.clip_id}/{RECORD_NAME}", "metrics"))
    return " ".join(f'<a href="{html.escape(h)}">{label}</a>' for h, label in links)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}.summary{margin:0 0 12px;color:#444}
.hists{display:flex;flex-wrap:wrap;gap:16px;margin-bottom:12px}
svg.hist rect{fill:#4a78b5}svg.hist text{font-size:10px;fill:#333}svg.hist text.t{font-size:12px}
svg.hist .ax{stroke:#333}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:middle}
th{background:#eee;cursor:pointer;user-select:none;white-space:nowrap;position:sticky;top:0}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fde8e8}tr.not-run td{background:#f3f3f3;color:#777}
td.err{max-width:420px;font-size:12px}img.thumb{display:block;max-width:128px;max-height:128px}
td.input{font-size:12px;max-width:260px;word-break:break-all}
"""

_JS = """
(function(){
  var table=document.getElementById('clips'), body=table.tBodies[0];
  var heads=table.tHead.rows[0].cells;
  function cellValue(row,i,num){
    var v=row.cells[i].getAttribute('data-v');
    if(num){return v===''||v===null?NaN:parseFloat(v);} return (v||'').toLowerCase();
  }
  function sortBy(key,desc){
    var i=-1,num=false;
    for(var j=0;j<heads.length;j++){
      heads[j].classList.remove('asc','desc');
      if(heads[j].getAttribute('data-key')===key){i=j;num=heads[j].getAttribute('data-type')==='num';}
    }
    if(i<0)return false;
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=cellValue(a,i,num),y=cellValue(b,i,num);
      if(num){if(isNaN(x)&&isNaN(y))return 0;if(isNaN(x))return 1;if(isNaN(y))return -1;
        return desc?y-x:x-y;}
      return desc?(x<y?1:x>y?-1:0):(x<y?-1:x>y?1:0);
    });
    rows.forEach(function(r){body.appendChild(r);});
    heads[i].classList.add(desc?'desc':'asc');
    return true;
  }
  function fromHash(){
    var m=/sort=(-?)([A-Za-z0-9_]+)/.exec(location.hash);
    if(m)sortBy(m[2],m[1]==='-');
  }
  for(var j=0;j<heads.length;j++){
    heads[j].addEventListener('click',function(){
      var key=this.getAttribute('data-key'),desc=this.classList.contains('asc');
      if(sortBy(key,desc))history.replaceState(null,'','#sort='+(desc?'-':'')+key);
    });
  }
  window.addEventListener('hashchange',fromHash);
  fromHash();
})();
"""


def report_html(outdir, rows: list[ReportRow], title: str = "FaceStudio batch", summary: str = "") -> str:
    """The report page (module docstring) as a string."""
    outdir = Path(outdir)
    embed = len(rows) <= EMBED_LIMIT
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    status_line = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    pooled = pooled_histogram(rows)
    edges = [*HIST_EDGES_PX, HIST_EDGES_PX[-1] + (HIST_EDGES_PX[1] - HIST_EDGES_PX[0])]
    per_clip, clip_edges = clip_histogram(rows)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f'<p class="summary" id="summary">{len(rows)} clips: {html.escape(status_line)}'
           f'{". " + html.escape(summary) if summary else ""}</p>',
           '<div class="hists">',
           svg_histogram(pooled, edges, f"fitted frames by fit error ({sum(pooled)} frames; last bin: "
                         f"{HIST_EDGES_PX[-1]:g} px and more)", "fit error (px)", "frames"),
           svg_histogram(per_clip, clip_edges, "clips by median fit error", "median fit error (px)", "clips"),
           "</div>",
           '<table id="clips"><thead><tr><th data-key="thumb" data-type="text">thumbnail</th>']
    out += [f'<th data-key="{k}" data-type="{kind}">{html.escape(h)}</th>' for k, h, kind in COLUMNS]
    out.append('<th data-key="links" data-type="text">outputs</th></tr></thead><tbody>')
    for row in rows:
        cls = {"failed": "failed", "not run": "not-run"}.get(row.status, row.status)
        cells = [f'<td data-v="">{_thumbnail_html(outdir, row, embed)}</td>']
        for k, _, kind in COLUMNS:
            v = row.value(k)
            raw = "" if _missing(v) else str(v)
            css = "num" if kind == "num" else ("err" if k == "error" else ("input" if k == "input" else ""))
            cells.append(f'<td class="{css}" data-v="{html.escape(raw)}">{html.escape(_fmt(v, kind))}</td>')
        cells.append(f'<td data-v="">{_links_html(row)}</td>')
        out.append(f'<tr class="{cls}" data-clip="{html.escape(row.clip_id)}">{"".join(cells)}</tr>')
    out.append(f"</tbody></table><script>{_JS}</script></body></html>")
    return "\n".join(out)
