"""core.video: every input kind, exact seeking, metadata, rotation, truncation, bad inputs,
the writer (audio kept, atomic), and the simulated camera's real-time behaviour.

Small test clips are cut from /work/shared/data/videos/d6.mp4 (2 s, 160x160) with the
bundled ffmpeg; the reference pixels come from ffmpeg decoding to rgb24 directly, a
decoder path independent of OpenCV, which also pins the channel order to RGB.
"""
from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from core.errors import InputError
from core.video import (SimulatedCamera, StreamEnded, VideoWriter, ffmpeg_exe, open_source,
                        probe, write_png_sequence)
from core.video.source import _FrameCache

SIDE = 160
N_FRAMES = 60  # 2 s at 30 fps

ENCODE = {
    "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-bf", "2"],
    "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "15"],
    "avi": ["-c:v", "mjpeg", "-q:v", "3"],
    "mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    "webm": ["-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"],
}


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def ffmpeg_rgb(path, vf: str | None = None) -> np.ndarray:
    """All frames of a small clip decoded by ffmpeg itself: (N, H, W, 3) uint8 RGB."""
    info = probe(path, count_frames=False)
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path)]
    if vf:
        cmd += ["-vf", vf]
    raw = subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    h, w = info["height"], info["width"]
    if info["rotation"] in (90, 270):
        h, w = w, h
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Small clips of d6.mp4 in every container, a PNG folder, a JPG, and the reference frames."""
    d6 = shared_path("data", "videos", "d6.mp4")
    out = tmp_path_factory.mktemp("clips")
    master = out / "master.mkv"  # lossless master: the reference every clip is compared with
    ffmpeg("-i", str(d6), "-t", "2", "-vf", f"scale={SIDE}:{SIDE}", "-c:v", "ffv1", "-an", str(master))
    files = {}
    for ext, codec in ENCODE.items():
        files[ext] = out / f"clip.{ext}"
        ffmpeg("-i", str(master), "-i", str(d6), "-map", "0:v", "-map", "1:a", "-t", "2",
               *codec, str(files[ext]))
    files["gif"] = out / "clip.gif"
    ffmpeg("-i", str(master), "-vf", "fps=10", str(files["gif"]))
    reference = ffmpeg_rgb(master)
    folder = out / "pngs"
    folder.mkdir()
    for i, frame in enumerate(reference):  # f1 .. f60, not zero-padded: needs natural sort
        Image.fromarray(frame).save(folder / f"f{i + 1}.png")
    files["folder"] = folder
    files["jpg"] = out / "still.jpg"
    Image.fromarray(reference[30]).save(files["jpg"], quality=95)
    return {"files": files, "reference": reference, "dir": out, "d6": d6}


# --- every input kind ---------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["mp4", "mov", "avi", "mkv", "webm"])
def test_video_containers_decode_every_frame_in_rgb(clips, ext):
    ref = clips["reference"]
    with open_source(clips["files"][ext]) as src:
        assert (src.kind, src.size, src.frame_count, len(src)) == ("video", (SIDE, SIDE), N_FRAMES, N_FRAMES)
        assert src.fps == pytest.approx(30.0)
        assert src.has_audio and src.rotation == 0 and not src.is_live and not src.truncated
        frames = [f for _, f in src]
    assert len(frames) == N_FRAMES
    assert all(f.dtype == np.uint8 and f.shape == (SIDE, SIDE, 3) for f in frames)
    errors = [mae(f, r) for f, r in zip(frames, ref)]
    assert max(errors) < 4.0, errors  # lossy codecs, same frames
    # Swapped channels would be far off: RGB order is right.
    assert mae(frames[30][:, :, ::-1], ref[30]) > 3 * max(errors[30], 1.0)


def test_gif(clips):
    src = open_source(clips["files"]["gif"])
    assert (src.kind, src.frame_count, src.size, src.has_audio) == ("video", 20, (SIDE, SIDE), False)
    assert src.fps == pytest.approx(10.0)
    # ffmpeg's own gif decode is the exact reference.
    assert np.array_equal(np.stack([f for _, f in src]), ffmpeg_rgb(clips["files"]["gif"]))
    # Frames are dithered to a palette: compare 8x8 block means with the 10 fps reference.
    def blocks(a):
        return a.reshape(20, 8, 20, 8, 3).mean(axis=(1, 3))

    assert np.abs(blocks(src.read(5)) - blocks(clips["reference"][15])).mean() < 8.0


def test_png_folder_natural_order(clips):
    src = open_source(clips["files"]["folder"])
    ref = clips["reference"]
    assert (src.kind, src.frame_count, src.size, src.fps) == ("folder", N_FRAMES, (SIDE, SIDE), 30.0)
    for i in (0, 1, 9, 10, 11, 59):  # f10 must come after f9, not after f1
        assert np.array_equal(src.read(i), ref[i])
    assert open_source(clips["files"]["folder"], fps=12.5).fps == 12.5
    assert [i for i, _ in src.frames(0, 10, 3)] == [0, 3, 6, 9]


def test_single_jpg(clips):
    src = open_source(clips["files"]["jpg"])
    assert (src.kind, src.frame_count, src.size, src.fps) == ("image", 1, (SIDE, SIDE), 30.0)
    assert mae(src.read(0), clips["reference"][30]) < 3.0
    with pytest.raises(IndexError):
        src.read(1)


def test_read_returns_a_copy(clips):
    src = open_source(clips["files"]["mp4"])
    a = src.read(3)
    a[:] = 0
    assert src.read(3).any()


# --- exact random access ------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["mp4", "mov", "avi", "mkv", "webm", "gif"])
def test_seek_is_exact_in_every_container(clips, ext):
    path = clips["files"][ext]
    sequential = [f for _, f in open_source(path)]
    src = open_source(path)
    src._cache = _FrameCache(max_bytes=0)  # no cache: every read really seeks or decodes
    order = np.random.default_rng(7).permutation(len(sequential))
    for i in list(order) + [len(sequential) - 1, 0, 1]:
        assert np.array_equal(src.read(int(i)), sequential[i]), f"{ext} frame {i}"


@pytest.mark.parametrize("name, picks", [("d14.mp4", 10), ("d9.mp4", 8), ("obama.mp4", 5)])
def test_seek_is_exact_on_real_clips(name, picks):
    path = shared_path("data", "videos", name)
    src = open_source(path)
    rng = np.random.default_rng(len(name))
    wanted = sorted(set(rng.integers(0, src.frame_count, picks).tolist()) | {src.frame_count - 1})
    sequential = {i: f for i, f in open_source(path) if i in wanted}
    assert len(sequential) == len(wanted)
    src._cache = _FrameCache(max_bytes=0)
    for i in rng.permutation(wanted):  # random order: backward and forward jumps
        assert np.array_equal(src.read(int(i)), sequential[int(i)]), f"{name} frame {i}"


def test_real_clip_metadata():
    d6 = open_source(shared_path("data", "videos", "d6.mp4"))
    assert (d6.fps, d6.frame_count, d6.size, d6.has_audio) == (30.0, 1008, (480, 480), True)
    d0 = open_source(shared_path("data", "videos", "d0.mp4"))
    assert (d0.fps, d0.frame_count, d0.size, d0.has_audio) == (25.0, 78, (512, 512), False)
    d13 = open_source(shared_path("data", "videos", "d13.mp4"))
    assert (d13.frame_count, d13.size) == (352, (1280, 720))  # portrait: H > W
    # obama.mp4's edit list cuts 103 pre-roll frames: OpenCV's header count says 158.
    obama = open_source(shared_path("data", "videos", "obama.mp4"))
    assert (obama.header_frame_count, obama.frame_count, obama.size) == (158, 55, (720, 1280))
    assert not obama.truncated
    assert len(list(obama)) == 55


def test_probe_on_real_clip():
    info = probe(shared_path("data", "videos", "d6.mp4"))
    assert info["has_audio"] and info["has_video"]
    assert (info["width"], info["height"], info["fps"], info["frame_count"]) == (480, 480, 30.0, 1008)
    assert info["duration"] == pytest.approx(33.62, abs=0.01)
    assert [s["type"] for s in info["streams"]] == ["video", "audio"]
    assert not probe(shared_path("data", "videos", "d0.mp4"))["has_audio"]


# --- rotation metadata --------------------------------------------------------------------------
def test_rotation_metadata_gives_upright_frames(clips, tmp_path):
    plain = tmp_path / "plain.mp4"
    ffmpeg("-i", str(clips["files"]["mp4"]), "-t", "0.5", "-vf", "crop=160:120:0:20",
           "-c:v", "libx264", "-an", str(plain))
    rotated = tmp_path / "rot.mp4"
    # The display matrix turns the picture 90 degrees counter-clockwise (what phones write).
    ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
    assert probe(rotated)["rotation"] == 270
    src, flat = open_source(rotated), open_source(plain)
    assert (flat.size, flat.rotation) == ((120, 160), 0)
    assert (src.size, src.rotation, src.frame_count) == ((160, 120), 270, flat.frame_count)
    for i in (0, 7, flat.frame_count - 1):
        assert np.array_equal(src.read(i), np.rot90(flat.read(i), 1))
    # ffmpeg's own auto-rotation agrees.
    assert np.array_equal(src.read(0), ffmpeg_rgb(rotated)[0])


# --- truncated files ----------------------------------------------------------------------------
def test_truncated_mp4(clips, tmp_path):
    full = tmp_path / "full.mp4"
    ffmpeg("-i", str(clips["files"]["mp4"]), "-c", "copy", "-movflags", "+faststart", str(full))
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    src = open_source(cut)
    assert src.truncated
    assert 10 < src.frame_count < N_FRAMES and src.announced_frame_count == N_FRAMES
    got = list(src)  # iteration stops cleanly at the real end
    assert [i for i, _ in got] == list(range(src.frame_count))
    assert mae(got[-1][1], clips["reference"][src.frame_count - 1]) < 4.0
    with pytest.raises(InputError, match=rf"cut\.mp4: frame {src.frame_count + 2} cannot be decoded.*truncated"):
        src.read(src.frame_count + 2)
    with pytest.raises(IndexError):
        src.read(N_FRAMES)
    # Cut before the index (moov at the end): nothing can be read at all.
    head = tmp_path / "head.mp4"
    plain = clips["files"]["mp4"].read_bytes()
    head.write_bytes(plain[: len(plain) // 2])
    with pytest.raises(InputError, match="head.mp4: the file is incomplete.*moov"):
        open_source(head)


# --- bad inputs ---------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(clips, tmp_path):
    with pytest.raises(InputError, match="nothere.mp4: no such file"):
        open_source(tmp_path / "nothere.mp4")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="empty_dir: the folder contains no images"):
        open_source(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="junk.mp4: ffmpeg cannot read"):
        open_source(junk)
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    with pytest.raises(InputError, match="zero.mp4: the file is empty"):
        open_source(zero)
    odd = tmp_path / "clip.xyz"
    odd.write_bytes(b"abc")
    with pytest.raises(InputError, match=r"clip.xyz: unknown file type '\.xyz'"):
        open_source(odd)
    bad_jpg = tmp_path / "bad.jpg"
    bad_jpg.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(InputError, match="bad.jpg: not a readable image"):
        open_source(bad_jpg)
    with pytest.raises(InputError, match="webcam:3: no camera at index 3"):
        open_source("webcam:3")
    with pytest.raises(InputError, match="no camera at index 0"):
        open_source(0)
    with pytest.raises(InputError, match="webcam:x"):
        open_source("webcam:x")
    with pytest.raises(InputError, match="missing.mp4: file not found"):
        open_source("simcam:" + str(tmp_path / "missing.mp4"))


def test_absurd_image_sizes(tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    with pytest.raises(InputError, match=r"tiny.png: the frames are only 1x1 pixels"):
        open_source(tiny)
    huge = tmp_path / "huge.png"  # 17000 px wide: refused from the header, before decoding
    Image.fromarray(np.zeros((20, 17000), np.uint8)).save(huge)
    with pytest.raises(InputError, match=r"huge.png: the frames are 17000x20 pixels, larger than"):
        open_source(huge)


def test_gray_rgba_16bit_images_become_rgb_uint8(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))  # (32, 64)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = open_source(tmp_path / "gray.png").read(0)
    assert out.shape == (32, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = open_source(tmp_path / "rgba.png").read(0)
    assert out.shape == (32, 32, 3) and tuple(out[5, 5]) == (200, 100, 50)

    deep = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64)  # 0 .. 65472
    Image.fromarray(deep).save(tmp_path / "deep.png")  # a 16-bit grayscale PNG
    out = open_source(tmp_path / "deep.png").read(0)
    assert out.dtype == np.uint8 and out.shape == (32, 32, 3)
    assert np.abs(out[..., 1].astype(int) - np.round(deep / 257.0)).max() <= 1


def test_folder_with_mixed_sizes(clips, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(clips["reference"][0]).save(folder / "a1.png")
    Image.fromarray(clips["reference"][1][:100]).save(folder / "a2.png")
    src = open_source(folder)
    with pytest.raises(InputError, match=r"a2.png: the image is 160x100 but the sequence"):
        src.read(1)


# --- writer -------------------------------------------------------------------------------------
def test_writer_keeps_audio_pads_odd_sizes_and_is_atomic(clips, tmp_path):
    d6 = clips["d6"]
    ref = clips["reference"]
    out = tmp_path / "export.mp4"
    with VideoWriter(out, fps=30, audio_from=d6, quality="high") as w:
        for f in ref[:45]:
            w.write(f[:-1, :-1])  # 159 x 159: odd on both sides
            assert not out.exists()  # nothing under the real name until close
    assert w.audio_kept and w.output_size == (160, 160)
    info = probe(out)
    assert info["has_audio"] and info["frame_count"] == 45
    assert [s["codec"] for s in info["streams"]] == ["h264", "aac"]
    assert info["duration"] == pytest.approx(1.5, abs=0.1)  # audio trimmed to the video's 1.5 s
    back = open_source(out)
    assert back.frame_count == 45 and back.size == (160, 160)
    assert mae(back.read(20)[:-1, :-1], ref[20][:-1, :-1]) < 3.0
    assert mae(back.read(20)[:, -1], back.read(20)[:, -2]) < 3.0  # padding repeats the edge
    assert [p.name for p in tmp_path.iterdir()] == ["export.mp4"]  # no temp files left

    silent = tmp_path / "silent.mp4"
    with VideoWriter(silent, fps=25, audio_from=shared_path("data", "videos", "d0.mp4")) as w:
        for f in ref[:10]:
            w.write(f)
    assert not w.audio_kept and not probe(silent)["has_audio"]
    assert open_source(silent).fps == pytest.approx(25.0)

    with VideoWriter(tmp_path / "from_folder.mp4", fps=30, audio_from=clips["files"]["folder"]) as w:
        w.write(ref[0])
    assert not w.audio_kept
    (tmp_path / "from_folder.mp4").unlink()
    with pytest.raises(InputError, match="nope.mp4: file not found"):
        VideoWriter(tmp_path / "x.mp4", fps=30, audio_from=tmp_path / "nope.mp4")

    aborted = tmp_path / "aborted.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(aborted, fps=30) as w:
            w.write(ref[0])
            raise RuntimeError("job failed half way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.mp4", "silent.mp4"]

    with pytest.raises(ValueError):
        with VideoWriter(tmp_path / "mismatch.mp4", fps=30, size=(160, 160)) as w:
            w.write(ref[0][:80])
    with pytest.raises(InputError, match="out.avi"):
        VideoWriter(tmp_path / "out.avi", fps=30)


def test_png_sequence_round_trip(clips, tmp_path):
    ref = clips["reference"]
    paths = write_png_sequence(((i, ref[i]) for i in range(12)), tmp_path / "seq")
    assert [p.name for p in paths][:2] == ["frame_000000.png", "frame_000001.png"]
    src = open_source(tmp_path / "seq")
    assert src.frame_count == 12 and np.array_equal(src.read(11), ref[11])


# --- simulated camera ---------------------------------------------------------------------------
def test_simulated_camera_real_time_fast_consumer(clips):
    with open_source("simcam:" + str(clips["files"]["mp4"]), loop=False) as cam:
        assert isinstance(cam, SimulatedCamera)
        assert (cam.kind, cam.is_live, cam.frame_count, cam.size) == ("simcam", True, -1, (SIDE, SIDE))
        with pytest.raises(TypeError):
            len(cam)
        t0 = time.monotonic()
        got = [(i, f) for i, f in cam.frames()]
        elapsed = time.monotonic() - t0
    indices = [i for i, _ in got]
    # A fast consumer gets every frame (on an idle machine exactly 0..59; a starved CPU
    # may make the capture thread itself skip one or two to stay on its clock).
    assert indices[-1] == N_FRAMES - 1 and all(b > a for a, b in zip(indices, indices[1:]))
    assert len(indices) >= N_FRAMES - 6
    assert cam.frames_published - len(indices) <= 1  # the consumer missed nothing published
    assert elapsed > 1.6  # 60 frames at 30 fps: about 2 s, paced like a camera (never faster)
    for i, frame in got[::10]:  # without looping, the camera index is the clip's frame index
        assert mae(frame, clips["reference"][i]) < 4.0


def test_simulated_camera_drops_frames_for_slow_consumer_and_loops(clips):
    cam = SimulatedCamera(clips["files"]["mp4"], loop=True, speed=2.0)  # 60 fps
    try:
        indices = []
        for _ in range(10):
            i, frame = cam.read_latest()
            indices.append(i)
            time.sleep(0.1)  # a slow consumer: ~10 fps
        assert all(b > a for a, b in zip(indices, indices[1:]))
        assert cam.dropped >= 30 and max(np.diff(indices)) >= 3
        while indices[-1] < N_FRAMES + 5:  # past the clip's end: it loops
            indices.append(cam.read_latest()[0])
        assert not cam.ended and cam.source_index < indices[-1]
    finally:
        cam.close()
    assert not cam._thread.is_alive()
    with pytest.raises(StreamEnded):
        while True:
            cam.read_latest(timeout=1.0)


def test_still_formats_opencv_and_pillow_read(tmp_path):
    """Netpbm (.ppm/.pgm/.pbm), TGA, JPEG 2000, Sun raster and PFM/HDR (OpenCV only), CMYK
    (JPEG and TIFF), 16-bit colour (PNG and TIFF: Pillow cannot, OpenCV can) all open as RGB
    uint8 equal to what was written."""
    import cv2

    from core.video.images import IMAGE_EXTS

    rng = np.random.default_rng(3)
    rgb = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    files = {}

    def pil(name, im):
        im.save(tmp_path / name)
        files[name] = None

    pil("a.ppm", Image.fromarray(rgb))
    pil("a.pgm", Image.fromarray(gray))
    pil("a.tga", Image.fromarray(rgb))
    pil("a.jp2", Image.fromarray(rgb))
    pil("a_cmyk.tif", Image.fromarray(rgb).convert("CMYK"))
    pil("a_cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))
    cv2.imwrite(str(tmp_path / "a.ras"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "a16.tif"), rgb[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "a16.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "a.pfm"), rgb[..., ::-1].astype(np.float32) / 255.0)
    names = ["a.ppm", "a.pgm", "a.tga", "a.jp2", "a_cmyk.tif", "a_cmyk.jpg", "a.ras", "a16.tif", "a16.png", "a.pfm"]
    for name in names:
        assert (tmp_path / name).suffix.lower() in IMAGE_EXTS, name
        out = open_source(tmp_path / name).read(0)
        assert out.shape == (48, 64, 3) and out.dtype == np.uint8, name
        want = np.repeat(gray[..., None], 3, 2) if name == "a.pgm" else rgb
        tol = 3.0 if name.endswith(".jpg") or name.endswith(".jp2") else 1.0
        assert np.abs(out.astype(int) - want).mean() <= tol, name
    Image.fromarray(gray > 128).save(tmp_path / "a.pbm")   # 1-bit
    out = open_source(tmp_path / "a.pbm").read(0)
    assert set(np.unique(out)) <= {0, 255}
    cv2.imwrite(str(tmp_path / "a.hdr"), rgb[..., ::-1].astype(np.float32) / 64.0)   # values up to 4
    out = open_source(tmp_path / "a.hdr").read(0)
    assert out.shape == (48, 64, 3) and np.corrcoef(out[..., 0].ravel(), rgb[..., 0].ravel())[0, 1] > 0.99
