"""Frame-exact window decoding on real encoded files: every container/codec mix we support, the
real clips, image folders, bad and truncated files, handle/memory leaks and the optional
torchcodec backend."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import numbered_frames
from PIL import Image
from torchvision.transforms.v2 import functional as F

from motionfit.data import _pyav, _torchcodec
from motionfit.data.decode import (
    VideoMeta,
    available_backends,
    probe,
    read_clip,
    scaled_size,
    timeline_frames,
)
from motionfit.data.encode import write_video
from motionfit.errors import ConfigError, VideoDecodeError

# name -> (frames, write_video options): B-frames and several GOPs in each, so reads seek.
GENERATED = {
    "h264_bframes.mp4": (90, {"codec": "h264", "gop": 12, "bframes": 2}),
    "h264.mkv": (60, {"codec": "h264", "gop": 10}),
    "h264_bframes.avi": (60, {"codec": "h264", "gop": 10, "bframes": 2}),
    "mpeg4_bframes.avi": (60, {"codec": "mpeg4", "gop": 12, "bframes": 2}),
    "vp9.webm": (60, {"codec": "vp9", "gop": 10}),
    "vp9.mkv": (40, {"codec": "vp9", "gop": 8}),
    "ntsc_30000_1001.mp4": (60, {"codec": "h264", "gop": 10, "fps": Fraction(30000, 1001)}),
    "h264_audio.mp4": (50, {"codec": "h264", "gop": 10, "audio": True}),
    "mpeg4_audio.avi": (50, {"codec": "mpeg4", "gop": 10, "audio": True}),
    "vp9_audio.webm": (40, {"codec": "vp9", "gop": 8, "audio": True}),
    "raw_stream_no_timestamps.h264": (40, {"codec": "h264", "gop": 10}),
}


OPEN_GOP = ("h264_open_gop.mp4", "h264_open_gop.avi")


def write_open_gop_h264(path: Path, frames: np.ndarray) -> Path:
    """H.264 with open GOPs: B-frames after a keyframe in decode order that show before it."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {
            "preset": "veryfast",
            "threads": "1",
            "x264-params": "open-gop=1:keyint=10:min-keyint=10:bframes=3:scenecut=0",
        }
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real encoded 64x48 videos whose frames show their index (see ``numbered_frames``)."""
    folder = tmp_path_factory.mktemp("generated")
    videos = {
        name: write_video(folder / name, numbered_frames(n), **{"fps": 25} | options)
        for name, (n, options) in GENERATED.items()
    }
    for name in OPEN_GOP:
        videos[name] = write_open_gop_h264(folder / name, numbered_frames(60))
    return videos


def sequential_decode(
    path: Path, keep: set[int] | None = None
) -> tuple[int, dict[int, np.ndarray]]:
    """The reference: a full sequential PyAV decode; returns the frame count and the RGB frames
    whose index is in ``keep`` (all if ``None``)."""
    kept = {}
    count = 0
    with av.open(str(path)) as container:
        for count, frame in enumerate(container.decode(video=0), start=1):
            if keep is None or count - 1 in keep:
                kept[count - 1] = frame.to_ndarray(format="rgb24")
    return count, kept


def as_hwc(clip: torch.Tensor) -> np.ndarray:
    return clip.permute(0, 2, 3, 1).numpy()


def index_sets(num_frames: int, seed: int) -> list[list[int]]:
    """Clip-like requests: strided windows at random starts, plus unsorted repeats."""
    rng = np.random.default_rng(seed)
    sets = []
    for stride in (1, 2, 4):
        start = int(rng.integers(0, max(1, num_frames - 8 * stride)))
        sets.append([min(start + i * stride, num_frames - 1) for i in range(8)])
    sets.append(rng.integers(0, num_frames, size=10).tolist())  # unsorted, may repeat
    sets.append([num_frames - 1, 0, num_frames - 1, num_frames // 2])
    return sets


def assert_frame_exact(path: Path, seed: int = 0) -> None:
    meta = probe(path)
    requests = index_sets(meta.num_frames, seed)
    count, reference = sequential_decode(path, {i for r in requests for i in r})
    assert meta.num_frames == count, f"{path.name}: probe says {meta.num_frames}, decode {count}"
    for indices in requests:
        clip = read_clip(path, indices)
        assert clip.dtype == torch.uint8
        assert clip.shape == (len(indices), 3, meta.height, meta.width)
        for row, index in enumerate(indices):
            assert np.array_equal(as_hwc(clip)[row], reference[index]), (
                f"{path.name}: frame {index} differs from the sequential decode"
            )


@pytest.mark.parametrize("name", sorted(GENERATED) + list(OPEN_GOP))
def test_frames_match_a_full_sequential_decode(generated: dict[str, Path], name: str) -> None:
    assert_frame_exact(generated[name], seed=len(name))


def test_frames_match_a_full_sequential_decode_on_real_clips(real_videos: list[Path]) -> None:
    assert len(real_videos) >= 8
    for seed, path in enumerate(real_videos):
        assert_frame_exact(path, seed)


def test_every_frame_of_an_avi_with_packed_b_frames(real_videos_dir: Path) -> None:
    path = real_videos_dir / "mpeg4_with_audio_320x240_25fps.avi"
    count, reference = sequential_decode(path)
    clip = as_hwc(read_clip(path, list(range(count))))
    assert all(np.array_equal(clip[i], reference[i]) for i in range(count))


def test_probe_metadata(generated: dict[str, Path], real_videos_dir: Path) -> None:
    ntsc = probe(generated["ntsc_30000_1001.mp4"])
    assert (ntsc.num_frames, ntsc.width, ntsc.height) == (60, 64, 48)
    assert ntsc.fps == pytest.approx(30000 / 1001) and ntsc.duration == pytest.approx(2.002)
    avi = probe(generated["mpeg4_audio.avi"])
    assert (avi.num_frames, avi.fps, avi.duration) == (50, 25.0, 2.0)
    real = probe(real_videos_dir / "ava_demo_340x256_6fps.mp4")
    assert (real.num_frames, real.fps, real.width, real.height) == (57, 6.0, 340, 256)


def test_probe_reindexes_a_file_that_changed(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", numbered_frames(20))
    assert probe(path).num_frames == 20
    write_video(path, numbered_frames(31))
    assert probe(path).num_frames == 31
    assert read_clip(path, [30]).shape[0] == 1


def test_repeats_and_order_are_kept(generated: dict[str, Path]) -> None:
    path = generated["h264_bframes.mp4"]
    clip = read_clip(path, [40, 3, 40, 3, 89])
    _, reference = sequential_decode(path, {3, 40, 89})
    for row, index in enumerate([40, 3, 40, 3, 89]):
        assert np.array_equal(as_hwc(clip)[row], reference[index])


def test_short_side_resizes_while_converting(
    generated: dict[str, Path], real_videos_dir: Path
) -> None:
    assert scaled_size(340, 256, 224) == (297, 224)  # as torchvision Resize(224) truncates
    assert scaled_size(48, 64, 32) == (32, 42)
    for path in (generated["h264_bframes.mp4"], real_videos_dir / "h264_340x256_30fps.mp4"):
        meta = probe(path)
        width, height = scaled_size(meta.width, meta.height, 36)
        clip = read_clip(path, [7, 21], short_side=36)
        assert clip.shape == (2, 3, height, width) and min(height, width) == 36
        _, reference = sequential_decode(path, {7, 21})
        for row, index in enumerate([7, 21]):
            full = torch.from_numpy(reference[index]).permute(2, 0, 1)
            expected = F.resize(full, [height, width], antialias=True).float()
            assert (clip[row].float() - expected).abs().mean() < 4.0


def test_lossless_rgb_video_gives_the_encoded_pixels(tmp_path: Path) -> None:
    frames = numbered_frames(20)
    path = tmp_path / "png_rgb24.mov"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert np.array_equal(as_hwc(read_clip(path, [19, 2, 2])), frames[[19, 2, 2]])
    resized = read_clip(path, [7], short_side=24)
    expected = F.resize(torch.from_numpy(frames[[7]]).permute(0, 3, 1, 2), [24, 32], antialias=True)
    assert resized.shape == (1, 3, 24, 32)
    assert (resized.float() - expected.float()).abs().mean() < 4.0


def test_decodes_only_from_the_keyframe_before_the_window(
    generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    real_decode_from = _pyav._decode_from

    def counting(*args, **kwargs):
        for frame in real_decode_from(*args, **kwargs):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(_pyav, "_decode_from", counting)
    for name in ("h264_bframes.mp4", "mpeg4_bframes.avi", "vp9.webm", "h264.mkv"):
        decoded.clear()
        read_clip(generated[name], [42, 46, 50])  # GOPs of 10-12 frames
        assert 9 <= len(decoded) <= 24, f"{name}: decoded {len(decoded)} frames for 42..50"


def test_image_folder_reads_like_a_video(tmp_path: Path) -> None:
    frames = numbered_frames(12)
    folder = tmp_path / "rawframes"
    folder.mkdir()
    for index, image in enumerate(frames):  # unpadded names: natural order, not 1, 10, 11, 2
        Image.fromarray(image).save(folder / f"img_{index + 1}.png")
    (folder / "notes.txt").write_text("not a frame")
    assert probe(folder) == VideoMeta(12, 30.0, 0.4, 64, 48)
    assert probe(folder, image_fps=6.0).duration == 2.0
    clip = read_clip(folder, [10, 1, 10, 11])
    assert np.array_equal(as_hwc(clip), frames[[10, 1, 10, 11]])
    assert read_clip(folder, [0, 5], short_side=24).shape == (2, 3, 24, 32)
    with pytest.raises(VideoDecodeError, match="rawframes"):
        read_clip(folder, [12])


def test_jpeg_folder_is_decoded_at_reduced_scale_when_downscaled(
    tmp_path: Path, real_videos_dir: Path
) -> None:
    """Full HD JPEG frames read at short side 256 match a full decode + resize closely."""
    folder = tmp_path / "hd_frames"
    folder.mkdir()
    with av.open(str(real_videos_dir / "skeleton_demo_1920x1080_28fps.mp4")) as container:
        for index, frame in zip(range(3), container.decode(video=0), strict=False):
            frame.to_image().save(folder / f"img_{index:05d}.jpg", quality=90)
    clip = read_clip(folder, [2, 0], short_side=256)
    assert clip.shape == (2, 3, 256, 455)
    for row, index in enumerate([2, 0]):
        with Image.open(folder / f"img_{index:05d}.jpg") as image:
            full = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
        expected = F.resize(full, [256, 455], antialias=True).float()
        assert (clip[row].float() - expected).abs().mean() < 2.0


def test_image_folder_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoDecodeError, match="empty"):
        probe(empty)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(numbered_frames(1)[0]).save(folder / "img_00001.jpg")
    (folder / "img_00002.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    assert probe(folder).num_frames == 2
    with pytest.raises(VideoDecodeError, match=r"img_00002\.jpg"):
        read_clip(folder, [0, 1])


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, real_videos_dir: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    real = (real_videos_dir / "h264_340x256_30fps.mp4").read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(real[: len(real) * 3 // 10])
    (folder / "text.mp4").write_text("this is not a video\n" * 50)
    with av.open(str(folder / "audio_only.mp4"), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        silence = np.zeros((1, 1024), np.float32)
        frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for _ in range(20):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return {
        "missing": folder / "missing.mp4",
        "empty": folder / "empty.mp4",
        "truncated": folder / "truncated.mp4",
        "text": folder / "text.mp4",
        "audio_only": folder / "audio_only.mp4",
    }


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "text", "audio_only"])
def test_bad_files_raise_a_decode_error_naming_the_file(
    bad_files: dict[str, Path], kind: str
) -> None:
    path = bad_files[kind]
    for call in (lambda: probe(path), lambda: read_clip(path, [0])):
        with pytest.raises(VideoDecodeError, match=re.escape(path.name)):
            call()


def test_out_of_range_indices_raise(generated: dict[str, Path]) -> None:
    path = generated["vp9.webm"]
    for indices in ([0, 60], [-1, 3]):
        with pytest.raises(VideoDecodeError, match=r"vp9\.webm.*out of range"):
            read_clip(path, indices)


def _faststart_copy(source: Path, target: Path) -> Path:
    """Remux ``source`` with the index first, so a truncated copy is still partly readable."""
    with (
        av.open(str(source)) as src,
        av.open(str(target), mode="w", options={"movflags": "faststart"}) as dst,
    ):
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    return target


@pytest.mark.parametrize("name", ["h264_340x256_30fps.mp4", "mpeg4_with_audio_320x240_25fps.avi"])
def test_truncated_file_gives_its_readable_frames_and_raises_after(
    real_videos_dir: Path, tmp_path: Path, name: str
) -> None:
    complete = real_videos_dir / name
    if complete.suffix == ".mp4":
        complete = _faststart_copy(complete, tmp_path / f"fast_{name}")
    data = complete.read_bytes()
    truncated = tmp_path / f"truncated_{name}"
    truncated.write_bytes(data[: len(data) * 3 // 10])
    with pytest.warns(UserWarning, match="truncated"):
        meta = probe(truncated)
    assert 0 < meta.num_frames < probe(complete).num_frames
    everything = list(range(meta.num_frames))
    assert torch.equal(read_clip(truncated, everything), read_clip(complete, everything))
    with pytest.raises(VideoDecodeError, match=rf"{re.escape(truncated.name)}.*truncated"):
        read_clip(truncated, [0, meta.num_frames])


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leaked_handles_or_memory_over_thousands_of_clips(
    generated: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(numbered_frames(8)):
        Image.fromarray(image).save(folder / f"img_{index:05d}.jpg")
    sources = [
        generated["h264_bframes.mp4"],
        generated["mpeg4_audio.avi"],
        generated["vp9.webm"],
        folder,
    ]
    rng = np.random.default_rng(0)

    def run(calls: int) -> None:
        for call in range(calls):
            path = sources[call % len(sources)]
            start = int(rng.integers(0, 4 if path == folder else 30))
            read_clip(path, [start, start + 2, start + 4], short_side=32)
            if call % 100 == 0:
                with pytest.raises(VideoDecodeError):
                    read_clip(path, [10_000])

    run(200)  # warm up caches and allocator pools
    fds, rss = _open_fds(), _rss_bytes()
    run(2000)
    assert _open_fds() == fds
    assert _rss_bytes() - rss < 20 * 2**20


def test_available_backends_and_backend_choice(
    generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert available_backends()[0] == "pyav"
    path = generated["h264_bframes.mp4"]
    with pytest.raises(ConfigError, match="unknown decoder"):
        read_clip(path, [0], backend="decord")
    monkeypatch.setattr(_torchcodec, "_problem", lambda: "no FFmpeg libraries (simulated)")
    assert available_backends() == ["pyav"]
    assert torch.equal(read_clip(path, [4, 9], backend="auto"), read_clip(path, [4, 9]))
    with pytest.raises(ConfigError, match="simulated"):
        read_clip(path, [0], backend="torchcodec")


@pytest.mark.parametrize(
    "name", ["h264_bframes.mp4", "vp9.mkv", "h264_bframes.avi", "mpeg4_audio.avi"]
)
def test_torchcodec_backend_matches_pyav(generated: dict[str, Path], name: str) -> None:
    if "torchcodec" not in available_backends():
        pytest.skip(f"torchcodec unavailable: {_torchcodec.problem()}")
    path = generated[name]
    for indices in index_sets(probe(path).num_frames, seed=3):
        assert torch.equal(
            read_clip(path, indices, backend="torchcodec"), read_clip(path, indices)
        ), name
    resized = read_clip(path, [5, 1, 5], short_side=32, backend="torchcodec")
    reference = read_clip(path, [5, 1, 5], short_side=32)
    assert resized.shape == reference.shape
    assert (resized.float() - reference.float()).abs().mean() < 4.0


# ---------------------------------------------------------------------------------------------
# variable frame rate


def write_vfr_video(path: Path, frames: np.ndarray, times: np.ndarray) -> Path:
    """h264 mp4 whose frame ``k`` is shown at ``times[k]`` seconds (irregular, as from a phone):
    timestamps in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "veryfast", "threads": "1", "g": "8", "bf": "2"}
        for image, seconds in zip(frames, times, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(seconds * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def vfr_times(num_frames: int, seed: int = 0) -> np.ndarray:
    """Frame times drifting between 15 and 40 fps (a slow first half, a fast second half)."""
    rng = np.random.default_rng(seed)
    half = num_frames // 2
    gaps = np.concatenate(
        [rng.uniform(0.055, 0.07, half), rng.uniform(0.025, 0.03, num_frames - half - 1)]
    )
    return np.round(np.concatenate(([0.0], np.cumsum(gaps))), 3)


def test_variable_frame_rate_probe_and_timeline(tmp_path: Path) -> None:
    times = vfr_times(40)
    path = write_vfr_video(tmp_path / "vfr.mp4", numbered_frames(40), times)
    meta = probe(path)
    interval = times[-1] / 39
    assert meta.num_frames == 40
    assert meta.duration == pytest.approx(times[-1] + interval, abs=1e-3)  # not 40 / avg fps
    assert meta.fps == pytest.approx(40 / meta.duration)
    # positions on the constant-rate timeline map to the frame shown at that time
    positions = np.arange(0, 40, 5)
    frames = np.asarray(timeline_frames(path, positions))
    assert np.all(np.abs(times[frames] - positions * interval) <= 0.036)  # half the widest gap
    assert not np.array_equal(frames, positions)  # frame counting would drift by several frames
    # the frames decoded are the ones asked for
    clip = read_clip(path, frames.tolist())
    columns = clip.float().mean(dim=1)[:, -4:, :].mean(dim=1).argmax(dim=1)
    assert columns.tolist() == frames.tolist()


def test_constant_rate_timeline_is_the_identity(generated: dict[str, Path]) -> None:
    for name in ("h264_bframes.mp4", "ntsc_30000_1001.mp4", "mpeg4_bframes.avi"):
        count = probe(generated[name]).num_frames
        assert timeline_frames(generated[name], range(count)) == list(range(count)), name
