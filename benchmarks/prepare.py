"""Training clips from original files against their ``motionfit data prepare`` copies.

    python benchmarks/prepare.py [--clips 24] [--repeats 2]

Sources: the real clips in ../shared/data/real-videos (1080p h264 in mp4 and in avi, 340x256
h264 whose keyframes are ~8 s apart, 320x240 mpeg4 avi with audio) and two longer files made
from them by looping their frames back and forth and encoding h264 with a keyframe every 250
frames, as phones and cameras write (1080p, 12 s; 340x256, 40 s). The prepared copy is made by
``prepare_dataset`` with its defaults: short side 256, a keyframe every 16 frames, crf 23, x264
``tune=fastdecode``.

Each cell times ``VideoClipDataset`` in train mode (16 frames at stride 4, random start,
RandomResizedCrop 224 + flip; frames larger than needed are downscaled by the decoder) in the
main process, over ``--clips`` clips of the same file after one warm-up clip (the file's index
is cached, as in every epoch after the first): clips per second and CPU milliseconds per clip
of this process; the fastest of ``--repeats`` runs. Original and copy are measured interleaved,
so the machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from motionfit.config import AugmentConfig, SamplingConfig
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.decode import probe
from motionfit.data.prepare import PrepareSettings, prepare_dataset
from motionfit.data.records import VideoRecord

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared/data/real-videos"
REAL = {
    "1080p h264 mp4": "skeleton_demo_1920x1080_28fps.mp4",
    "1080p h264 avi": "ntu_h264_in_avi_1920x1080_30fps.avi",
    "340x256 h264 mp4": "h264_340x256_30fps.mp4",
    "320x240 mpeg4 avi": "mpeg4_with_audio_320x240_25fps.avi",
}
# name -> (real clip, frames of the looped version)
LONG = {
    "1080p h264 12 s, GOP 250": ("skeleton_demo_1920x1080_28fps.mp4", 340),
    "340x256 h264 40 s, GOP 250": ("h264_340x256_30fps.mp4", 1200),
}
SAMPLING = SamplingConfig(num_frames=16, stride=4, train_strides=[4], jitter_prob=0.0)
AUGMENT = AugmentConfig(crop_size=224)


def make_sources(folder: Path) -> dict[str, Path]:
    """The real clips (copied by name into ``folder/src``) and the looped long versions."""
    sources = {}
    for name, file in REAL.items():
        target = folder / "src" / "real" / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REAL_VIDEOS / file).read_bytes())
        sources[name] = target
    for name, (file, length) in LONG.items():
        target = folder / "src" / "long" / f"{Path(file).stem}_long.mp4"
        sources[name] = loop_video(REAL_VIDEOS / file, target, length)
    return sources


def loop_video(source: Path, target: Path, length: int, gop: int = 250) -> Path:
    """``length`` frames of ``source`` played back and forth, encoded as h264 (crf 23) with a
    keyframe every ``gop`` frames, streamed (1080p frames are not all held as RGB)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = list(container.decode(stream))
    order = np.concatenate([np.arange(len(frames)), np.arange(len(frames))[::-1]])
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(gop), "keyint_min": "25"}
        for number in range(length):
            frame = frames[order[number % len(order)]].reformat(format="yuv420p")
            frame.pts, frame.time_base = number, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return target


def clip_speed(path: Path, clips: int) -> tuple[float, float]:
    """(clips per second, CPU ms per clip) of training clips from ``path`` (warm index)."""
    dataset = VideoClipDataset(
        [VideoRecord(path, 0)] * (clips + 1), mode="train", sampling=SAMPLING, augment=AUGMENT
    )
    dataset[0]  # index the file
    start, cpu = time.perf_counter(), time.process_time()
    for index in range(1, clips + 1):
        dataset[index]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return clips / wall, 1000 * cpu / clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = make_sources(folder)
        start = time.perf_counter()
        prepare_dataset(folder / "src", folder / "prepared", PrepareSettings(), workers=2)
        seconds = time.perf_counter() - start
        video_seconds = sum(probe(path).duration for path in sources.values())
        print(
            f"prepare: {seconds:.1f} s wall for {video_seconds:.0f} s of video "
            f"({len(sources)} files, 2 workers)\n"
        )
        rows = []
        for name, path in sources.items():
            copy = (folder / "prepared" / path.relative_to(folder / "src")).with_suffix(".mp4")
            best = {"original": (0.0, np.inf), "prepared": (0.0, np.inf)}
            for _ in range(args.repeats):
                for kind, file in (("original", path), ("prepared", copy)):
                    speed, cpu = clip_speed(file, args.clips)
                    best[kind] = (max(best[kind][0], speed), min(best[kind][1], cpu))
            rows.append((name, probe(path), probe(copy), best))
    print_table(rows)


def print_table(rows: list) -> None:
    """One markdown table: size, clips/s and CPU ms per clip, original vs prepared."""
    print(
        "| source | frames | original size | copy size | original clips/s | prepared clips/s "
        "| speedup | original CPU ms/clip | prepared CPU ms/clip | CPU ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, meta, copy, best in rows:
        (speed, cpu), (fast, fast_cpu) = best["original"], best["prepared"]
        print(
            f"| {name} | {meta.num_frames} | {meta.width}x{meta.height} | "
            f"{copy.width}x{copy.height} | {speed:.1f} | {fast:.1f} | {fast / speed:.1f}x | "
            f"{cpu:.1f} | {fast_cpu:.1f} | {cpu / fast_cpu:.1f}x |"
        )


if __name__ == "__main__":
    main()
