"""app.progress_text: stage names, real counts, rate and time left (no display needed)."""
from __future__ import annotations

from app.progress_text import ProgressText, format_duration


def test_tracking_says_frames_done_of_the_total_and_the_rate():
    p = ProgressText("Tracking", "d6.mp4", unit="frames")
    status, bar = p.update(0, 587, "tracking", now=100.0)
    assert status == "Tracking d6.mp4: 0 / 587 frames" and bar == "tracking 0/587"  # (not "Tracking ...: tracking")
    p.update(50, 587, "tracking", now=102.0)
    status, bar = p.update(120, 587, "tracking", now=105.0)
    assert "120 / 587 frames" in status and "24.0 frames/s" in status and "about 19 s left" in status
    assert bar == "tracking 120/587"


def test_reconstruction_names_its_stages_with_their_own_counts():
    p = ProgressText("Reconstructing", "d6.mp4")
    status, bar = p.update(571, 1000, "tracking 120/587", now=10.0)
    assert status == "Reconstructing d6.mp4: tracking 120 / 587 frames" and bar == "tracking 120/587"
    assert "571" not in status                     # not the job's internal scale
    status, bar = p.update(800, 1000, "fitting: image motion", now=12.0)
    assert status == "Reconstructing d6.mp4: fitting: image motion (80%)" and bar == "fitting: image motion 80%"
    status, _ = p.update(900, 1000, "fitting: per-frame fit 30/60", now=13.0)
    assert "fitting: per-frame fit 30 / 60 frames" in status
    assert "tracking: tracking" not in p.update(100, 1000, "tracking 1/2", now=14.0)[0]


def test_fitting_rounds_are_counted_in_rounds_not_frames_or_the_jobs_scale():
    p = ProgressText("Reconstructing", "d9.mp4")
    status, bar = p.update(540, 1000, "fitting: camera initialisation 2/5 rounds", now=20.0)
    assert status == "Reconstructing d9.mp4: fitting: camera initialisation 2 / 5 rounds", status
    assert bar == "fitting: camera initialisation 2/5" and "%" not in status and "540" not in status
    p.update(600, 1000, "fitting: whole-video fit 1/3 rounds", now=21.0)
    status, _ = p.update(640, 1000, "fitting: whole-video fit 2/3 rounds", now=23.0)
    assert status.startswith("Reconstructing d9.mp4: fitting: whole-video fit 2 / 3 rounds, 0.5 rounds/s")
    assert "frames" not in status


def test_no_message_and_no_total():
    p = ProgressText("Opening project", "clip.fsproj")
    assert p.update(0, 0, "")[0] == "Opening project clip.fsproj..."
    assert p.update(1, 3, "loading the face model")[0] == "Opening project clip.fsproj: loading the face model (33%)"
    assert format_duration(200) == "3 min 20 s" and format_duration(3900) == "1 h 05 min"
