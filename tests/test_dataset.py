"""The clip Dataset on real encoded videos: uint8 shapes and layout, the decode-size rule,
collation, determinism, worker independence, flip labels, segments, stride in seconds, repeated
augmentation and the bad-file policy."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from conftest import numbered_frames
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from motionfit.config import AugmentConfig, SamplingConfig
from motionfit.data import dataset as dataset_module
from motionfit.data.dataset import (
    BadVideoWarning,
    VideoClipDataset,
    collate_clips,
    resolve_decoder,
    worker_init_fn,
)
from motionfit.data.encode import write_video
from motionfit.data.records import VideoRecord
from motionfit.data.transforms import VideoNormalize
from motionfit.errors import ConfigError, DataError, VideoDecodeError

SAMPLING = SamplingConfig(num_frames=4, stride=2, jitter_prob=0.5, jitter_max=1)
AUGMENT = AugmentConfig(crop_size=32, short_side=36, hflip=0.5, mean=(0.45,) * 3, std=(0.225,) * 3)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four real encoded videos: h264 mp4 (B-frames), mpeg4 avi with audio, vp9 webm, and a
    short h264 mkv, 64x48, frames numbered by a bright bar."""
    folder = tmp_path_factory.mktemp("videos")
    return [
        write_video(folder / "a.mp4", numbered_frames(40), fps=20, gop=8),
        write_video(folder / "b.avi", numbered_frames(30), fps=10, codec="mpeg4", audio=True),
        write_video(folder / "c.webm", numbered_frames(24), fps=12, codec="vp9"),
        write_video(folder / "d.mkv", numbered_frames(5), fps=25),
    ]


@pytest.fixture
def records(videos: list[Path]) -> list[VideoRecord]:
    """One record per video, labels 0..3."""
    return [VideoRecord(path, label) for label, path in enumerate(videos)]


def make(records: list[VideoRecord], **kwargs: Any) -> VideoClipDataset:
    """The dataset under test: tiny clips, seed 7, train mode unless overridden."""
    options = {"mode": "train", "sampling": SAMPLING, "augment": AUGMENT, "seed": 7}
    return VideoClipDataset(records, **(options | kwargs))


@pytest.fixture
def requested(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, list[int], int | None]]:
    """Every (path, frame indices, short side) the dataset asks the real decoder for."""
    calls: list[tuple[Path, list[int], int | None]] = []
    real_read_clip = dataset_module.read_clip

    def spy(path: Path, frame_indices: list[int], **kwargs: Any) -> torch.Tensor:
        calls.append((Path(path), list(frame_indices), kwargs.get("short_side")))
        return real_read_clip(path, frame_indices, **kwargs)

    monkeypatch.setattr(dataset_module, "read_clip", spy)
    return calls


def _is_channels_last(video: torch.Tensor) -> bool:
    """Whether a [..., C, T, H, W] clip is a view of [..., T, H, W, C] memory."""
    return video.movedim(-4, -1).is_contiguous()


def test_train_item_is_uint8_and_normalizes_on_the_batch(records: list[VideoRecord]) -> None:
    data = make(records)
    assert len(data) == 4
    for index in range(4):
        item = data[index]
        assert item["video"].shape == (3, 4, 32, 32) and item["video"].dtype == torch.uint8
        assert _is_channels_last(item["video"])
        assert item["label"] == index and item["index"] == index
    batch = collate_clips([data[i] for i in range(4)])
    video = VideoNormalize.from_config(AUGMENT)(batch["video"])
    assert video.shape == (4, 3, 4, 32, 32) and video.dtype == torch.float32
    # normalized with mean 0.45, std 0.225: range of (x - 0.45) / 0.225 for x in [0, 1]
    assert video.min() >= -2.0 - 1e-5 and video.max() <= 2.45 + 1e-5


def test_collate_clips_equals_default_collate_and_keeps_the_layout(
    records: list[VideoRecord],
) -> None:
    for data in (make(records), make(records, repeated=2), make(records, mode="eval", crops=3)):
        items = [data[i] for i in range(3)]
        fast, reference = collate_clips(items), default_collate(items)
        assert fast.keys() == reference.keys()
        assert torch.equal(fast["video"], reference["video"]) and _is_channels_last(fast["video"])
        assert torch.equal(fast["label"], reference["label"])
        assert torch.equal(fast["index"], reference["index"])


def test_sources_are_decoded_at_native_size_unless_much_larger(
    records: list[VideoRecord],
    real_videos_dir: Path,
    requested: list[tuple[Path, list[int], int | None]],
) -> None:
    full_hd = real_videos_dir / "skeleton_demo_1920x1080_28fps.mp4"
    augment = AugmentConfig(crop_size=32, short_side=300)  # 1080 > 1.5 x 300: downscaled
    clips = [VideoRecord(records[0].path, 0), VideoRecord(full_hd, 1)]  # 64x48 and 1920x1080
    for mode in ("train", "eval"):
        requested.clear()
        data = make(clips, mode=mode, augment=augment, bad_files="error")
        assert data[0]["video"].shape[-3:] == data[1]["video"].shape[-3:] == (4, 32, 32)
        assert [short_side for _, _, short_side in requested] == [None, 300]
    requested.clear()
    make(clips[1:], augment=augment.model_copy(update={"short_side": 720}))[0]
    assert requested[0][2] is None  # 1080 <= 1.5 x 720: native


def test_resolve_decoder_checks_torchcodec_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_probe() -> list[str]:
        raise AssertionError("torchcodec was checked")

    monkeypatch.setattr(dataset_module, "available_backends", no_probe)
    assert resolve_decoder("pyav") == "pyav"
    with pytest.raises(ConfigError, match=r"data\.decoder.*'decord'"):
        resolve_decoder("decord")
    monkeypatch.setattr(dataset_module, "available_backends", lambda: ["pyav"])
    assert resolve_decoder("auto") == "pyav"
    with pytest.raises(ConfigError, match="does not work here"):
        resolve_decoder("torchcodec")


def test_eval_item_clips_times_crops_and_deterministic(records: list[VideoRecord]) -> None:
    data = make(records, mode="eval", num_clips=2, crops=3)
    item = data[0]
    assert item["video"].shape == (6, 3, 4, 32, 32)
    data.set_epoch(5)
    assert torch.equal(data[0]["video"], item["video"])
    segments = make(records, mode="eval", crops=1, eval_mode="segments")
    assert segments[2]["video"].shape == (1, 3, 4, 32, 32)


def test_same_seed_epoch_index_same_item_and_epochs_differ(records: list[VideoRecord]) -> None:
    first, second = make(records), make(records)
    for index in range(4):
        assert torch.equal(first[index]["video"], second[index]["video"])
    epoch0 = [first[i]["video"] for i in range(4)]
    first.set_epoch(1)
    assert any(not torch.equal(a, first[i]["video"]) for i, a in enumerate(epoch0))
    other_seed = make(records, seed=8)
    assert any(not torch.equal(a, other_seed[i]["video"]) for i, a in enumerate(epoch0))


def test_items_do_not_depend_on_workers(records: list[VideoRecord]) -> None:
    data = make(records, repeated=2)

    def load(workers: int, epoch: int, loader: DataLoader | None = None) -> list[dict]:
        data.set_epoch(epoch)
        loader = loader or DataLoader(
            data, batch_size=2, num_workers=workers, worker_init_fn=worker_init_fn
        )
        return list(loader)

    single = load(0, epoch=0)
    persistent = DataLoader(
        data,
        batch_size=2,
        num_workers=2,
        persistent_workers=True,
        worker_init_fn=worker_init_fn,
        collate_fn=collate_clips,  # from shared memory, in the channels-last layout
    )
    parallel = load(2, epoch=0, loader=persistent)
    assert len(single) == len(parallel) == 2
    for a, b in zip(single, parallel, strict=True):
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["label"], b["label"])
        assert a["video"].shape == (2, 2, 3, 4, 32, 32) and a["label"].shape == (2, 2)
    # persistent workers follow set_epoch from the main process
    parallel_next = load(2, epoch=1, loader=persistent)
    single_next = load(0, epoch=1)
    for a, b in zip(single_next, parallel_next, strict=True):
        assert torch.equal(a["video"], b["video"])
    assert not torch.equal(single[0]["video"], single_next[0]["video"])


def test_flip_maps_label_and_mirrors_clip(records: list[VideoRecord]) -> None:
    flip_map = {0: 1, 1: 0}
    flipped = make(records, augment=AUGMENT.model_copy(update={"hflip": 1.0}), flip_map=flip_map)
    plain = make(records, augment=AUGMENT.model_copy(update={"hflip": 0.0}), flip_map=flip_map)
    assert [flipped[i]["label"] for i in range(4)] == [1, 0, 2, 3]
    assert [plain[i]["label"] for i in range(4)] == [0, 1, 2, 3]
    for index in range(4):  # same generator draws: same crop, mirrored
        assert torch.equal(flipped[index]["video"], plain[index]["video"].flip(-1))

    halves = make(records, flip_map=flip_map)  # hflip 0.5: label follows each clip's flip
    labels = set()
    for epoch in range(12):
        halves.set_epoch(epoch)
        labels.add(halves[0]["label"])
    assert labels == {0, 1}


def test_passed_transforms_replace_the_built_ones(records: list[VideoRecord]) -> None:
    calls: list[tuple[torch.Tensor, torch.Generator]] = []

    def corner_mirrored(
        frames: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, bool]:
        calls.append((frames, generator))
        return frames[:, :, :32, :32].flip(-1).transpose(0, 1), True

    data = make(records, train_transform=corner_mirrored, flip_map={0: 1, 1: 0})
    item = data[0]
    frames, generator = calls[-1]
    assert isinstance(generator, torch.Generator)
    assert frames.dtype == torch.uint8 and frames.shape == (4, 3, 48, 64)  # decoded, native size
    assert torch.equal(item["video"], frames[:, :, :32, :32].flip(-1).transpose(0, 1))
    assert item["label"] == 1  # the callable's flip goes through flip_map
    batch = collate_clips([item, data[3]])
    assert batch["video"].shape == (2, 3, 4, 32, 32) and batch["label"].tolist() == [1, 3]

    data[0]  # the item's own generator: seeded by seed, epoch and index
    assert calls[-1][1].initial_seed() == generator.initial_seed()
    data.set_epoch(1)
    data[0]
    assert calls[-1][1].initial_seed() != generator.initial_seed()

    def top_left(frames: torch.Tensor) -> torch.Tensor:
        return frames[:, :, :32, :32].transpose(0, 1).unsqueeze(0)

    evaluation = make(records, mode="eval", num_clips=2, eval_transform=top_left)
    clips = evaluation[1]["video"]
    assert clips.shape == (2, 3, 4, 32, 32) and clips.dtype == torch.uint8
    centred = make(records, mode="eval", num_clips=2)[1]["video"]
    assert not torch.equal(clips, centred)


def test_segments_restrict_sampled_frames(
    records: list[VideoRecord], requested: list[tuple[Path, list[int], int | None]]
) -> None:
    path = records[0].path  # 40 frames at 20 fps
    segment = [VideoRecord(path, 0, start=0.5, end=1.2)]  # frames 10..23
    data = make(segment)
    for epoch in range(10):
        data.set_epoch(epoch)
        data[0]
    assert requested and all(10 <= i < 24 for _, indices, _ in requested for i in indices)
    requested.clear()
    make(segment, mode="eval", num_clips=3)[0]
    wanted = sorted({i for _, indices, _ in requested for i in indices})
    # clips at the centres of 3 equal parts of the segment: inside it, off its very ends
    assert wanted[0] > 10 and wanted[-1] < 23

    late = [VideoRecord(path, 0, start=5.0, end=6.0)]
    with pytest.raises(VideoDecodeError, match="starts after the video ends"):
        make(late, bad_files="error")[0]


def test_stride_in_seconds_follows_each_video_fps(
    records: list[VideoRecord], requested: list[tuple[Path, list[int], int | None]]
) -> None:
    sampling = SAMPLING.model_copy(update={"stride_seconds": 0.2})
    data = make(records[:2], mode="eval", sampling=sampling)  # 20 fps and 10 fps
    data[0], data[1]
    strides = [np.diff(indices).tolist() for _, indices, _ in requested]
    assert strides == [[4, 4, 4], [2, 2, 2]]


def test_repeated_augmentation_decodes_once(
    records: list[VideoRecord], requested: list[tuple[Path, list[int], int | None]]
) -> None:
    data = make(records, repeated=3)
    item = data[0]
    assert item["video"].shape == (3, 3, 4, 32, 32) and item["label"].tolist() == [0, 0, 0]
    assert len(requested) == 1
    clips = item["video"]
    assert not torch.equal(clips[0], clips[1]) or not torch.equal(clips[1], clips[2])


def test_real_clips_decode_through_the_dataset(real_videos: list[Path]) -> None:
    records = [VideoRecord(path, 0) for path in real_videos]
    train = make(records, sampling=SamplingConfig(num_frames=4, stride=4), bad_files="error")
    evaluation = make(records, mode="eval", num_clips=2, bad_files="error")
    for index in range(len(records)):
        assert train[index]["video"].shape == (3, 4, 32, 32)
        assert evaluation[index]["video"].shape == (2, 3, 4, 32, 32)


def test_frame_folder_record(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(numbered_frames(12)):
        Image.fromarray(image).save(folder / f"img_{index + 1:05d}.png")
    item = make([VideoRecord(folder, 0)], bad_files="error")[0]
    assert item["video"].shape == (3, 4, 32, 32)


# ---------------------------------------------------------------------------------------------
# bad files


def audio_only(path: Path) -> Path:
    """An mp4 with one AAC stream and no video."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        fmt = stream.codec_context.format.name
        for index in range(10):
            samples = np.zeros((1, 1024), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def make_bad(kind: str, folder: Path, good: Path) -> Path:
    """One unreadable file of the given kind."""
    path = folder / f"{kind}.mp4"
    if kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.3)])
    elif kind == "not_a_video":
        path.write_text("this is a text file renamed to .mp4\n" * 20)
    elif kind == "audio_only":
        audio_only(path)
    return path  # "missing": never created


BAD_KINDS = ["missing", "zero_bytes", "truncated", "not_a_video", "audio_only"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_error_policy_names_the_file(
    kind: str, tmp_path: Path, records: list[VideoRecord]
) -> None:
    bad = make_bad(kind, tmp_path, records[0].path)
    data = make([*records, VideoRecord(bad, 0)], bad_files="error")
    with pytest.raises(VideoDecodeError, match=str(bad)):
        data[4]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_skip_policy_replaces_logs_and_warns_once(
    kind: str, tmp_path: Path, records: list[VideoRecord]
) -> None:
    bad = make_bad(kind, tmp_path, records[0].path)
    log = tmp_path / "logs" / "bad_files.tsv"
    data = make(
        [*records, VideoRecord(bad, 0)], bad_file_log=log, max_bad_fraction=0.2, mode="eval"
    )
    with pytest.warns(BadVideoWarning, match=str(bad)):
        item = data[4]
    assert item["index"] in range(4)  # a readable video instead
    assert torch.equal(item["video"], data[item["index"]]["video"])  # eval: same clips
    again = data[4]  # known bad: no new warning or log line, same replacement
    assert again["index"] == item["index"]
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}\t") and len(lines[0].split("\t")) == 2


def test_too_many_bad_files_stop_with_data_error(
    tmp_path: Path, records: list[VideoRecord]
) -> None:
    missing = [VideoRecord(tmp_path / f"missing{i}.mp4", 0) for i in range(2)]
    tolerated = make(records[:3] + missing[:1], max_bad_fraction=0.25)  # 1 of 4 is fine
    with pytest.warns(BadVideoWarning):
        assert [tolerated[i]["index"] for i in range(3)] == [0, 1, 2]
        assert tolerated[3]["index"] in range(3)
    too_many = make(records[:3] + missing, max_bad_fraction=0.25)  # 2 of 5 is not
    with pytest.warns(BadVideoWarning), pytest.raises(DataError, match="2 of 5 videos"):
        for index in range(5):
            too_many[index]


def test_bad_count_is_shared_through_the_log(tmp_path: Path, records: list[VideoRecord]) -> None:
    """Another worker already logged one bad video: this process's first one goes over."""
    bad = [VideoRecord(tmp_path / f"missing{i}.mp4", 0) for i in range(2)]
    log = tmp_path / "bad.tsv"
    log.write_text(f"{bad[0].path}\tlogged by worker 1\n/elsewhere/other.mp4\tnot ours\n")
    data = make(records[:3] + bad, max_bad_fraction=0.25, bad_file_log=log)
    with pytest.warns(BadVideoWarning), pytest.raises(DataError, match=f"2 of 5 .*see {log}"):
        data[4]


def test_skip_with_two_workers_logs_each_bad_file_and_matches_one_process(
    tmp_path: Path, records: list[VideoRecord]
) -> None:
    bad = [make_bad("zero_bytes", tmp_path, records[0].path)]
    shutil.copyfile(bad[0], tmp_path / "empty2.mp4")
    bad.append(tmp_path / "empty2.mp4")
    all_records = records + [VideoRecord(p, 0) for p in bad]

    def load(workers: int, log: Path) -> list[dict]:
        data = make(all_records, bad_file_log=log, max_bad_fraction=0.5)
        return list(
            DataLoader(data, batch_size=1, num_workers=workers, worker_init_fn=worker_init_fn)
        )

    parallel = load(2, tmp_path / "parallel.tsv")
    with pytest.warns(BadVideoWarning):
        single = load(0, tmp_path / "single.tsv")
    assert [b["index"].item() for b in parallel] == [b["index"].item() for b in single]
    assert all(torch.equal(a["video"], b["video"]) for a, b in zip(parallel, single, strict=True))
    assert {b["index"].item() for b in parallel[4:]} <= set(range(4))  # replacements
    logged = {line.split("\t")[0] for line in (tmp_path / "parallel.tsv").read_text().splitlines()}
    assert logged == {str(p) for p in bad}
