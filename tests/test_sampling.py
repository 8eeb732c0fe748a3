"""Temporal samplers: clip length, index range, strides, jitter, uniform coverage, determinism."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import numbered_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from motionfit.config import SamplingConfig
from motionfit.data.encode import write_video
from motionfit.data.sampling import (
    ClipIndices,
    EvalSampler,
    TrainSampler,
    clip_span,
    frame_strides,
    segment_clip,
    train_clip,
    uniform_clips,
)
from motionfit.errors import DataError

lengths = st.integers(1, 2000)
clip_frames = st.integers(1, 32)
stride_lists = st.lists(st.integers(1, 8), min_size=1, max_size=4)
modes = st.sampled_from(["loop", "pad"])


def _steps(clip: ClipIndices) -> np.ndarray:
    return np.diff(np.asarray(clip.indices))


@settings(max_examples=300, deadline=None)
@given(
    n=lengths,
    t=clip_frames,
    strides=stride_lists,
    jitter_prob=st.floats(0.0, 1.0),
    jitter_max=st.integers(0, 4),
    mode=modes,
    random_start=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_train_clip_length_range_jitter_and_determinism(
    n, t, strides, jitter_prob, jitter_max, mode, random_start, seed
):
    kwargs = dict(
        num_frames=t,
        strides=strides,
        jitter_prob=jitter_prob,
        jitter_max=jitter_max,
        short_video=mode,
        random_start=random_start,
    )
    clip = train_clip(n, np.random.default_rng(seed), **kwargs)
    assert len(clip.indices) == t
    assert all(0 <= i < n for i in clip.indices)
    assert clip.stride in strides
    assert 0 <= clip.jittered <= min(jitter_max, max(t - 1, 0))
    assert clip == train_clip(n, np.random.default_rng(seed), **kwargs)
    if clip.jittered == 0 and n >= clip_span(t, clip.stride):
        assert set(_steps(clip).tolist()) <= {clip.stride}
        assert clip.indices[0] == clip.start
    if n >= clip_span(t, clip.stride) + jitter_max * clip.stride:
        # every step is one stride, a dropped frame (two strides) or a duplicate (zero)
        steps = _steps(clip)
        assert set(steps.tolist()) <= {0, clip.stride, 2 * clip.stride}
        assert int((steps != clip.stride).sum()) == clip.jittered


@settings(max_examples=200, deadline=None)
@given(n=lengths, t=clip_frames, stride=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_short_videos_loop_or_pad(n, t, stride, seed):
    span = clip_span(t, stride)
    loop = train_clip(n, np.random.default_rng(seed), num_frames=t, strides=[stride])
    pad = train_clip(
        n, np.random.default_rng(seed), num_frames=t, strides=[stride], short_video="pad"
    )
    if n >= span:
        assert loop.indices == pad.indices
        return
    # loop: consecutive indices advance by the stride modulo the length
    assert all(((b - a) % n) == stride % n for a, b in itertools.pairwise(loop.indices))
    # pad: starts at 0 with the stride, then repeats the last frame
    expected = tuple(min(k * stride, n - 1) for k in range(t))
    assert pad.indices == expected


def test_one_frame_video_is_not_an_error():
    rng = np.random.default_rng(0)
    for mode in ("loop", "pad"):
        clip = train_clip(
            1, rng, num_frames=16, strides=[4], jitter_prob=1, jitter_max=2, short_video=mode
        )
        assert clip.indices == (0,) * 16
    assert segment_clip(1, num_frames=8).indices == (0,) * 8
    assert [c.indices for c in uniform_clips(1, num_frames=4, stride=2, num_clips=3)] == [
        (0,) * 4
    ] * 3
    with pytest.raises(DataError):
        train_clip(0, rng, num_frames=4, strides=[1])


def test_jitter_drops_and_duplicates_keep_length():
    rng = np.random.default_rng(1)
    clips = [
        train_clip(1000, rng, num_frames=16, strides=[3], jitter_prob=1.0, jitter_max=3)
        for _ in range(200)
    ]
    assert all(1 <= c.jittered <= 3 for c in clips)
    steps = np.concatenate([_steps(c) for c in clips])
    assert set(steps.tolist()) == {0, 3, 6}  # duplicates, regular steps, drops all occur
    for clip in clips:
        zeros = int((_steps(clip) == 0).sum())
        doubles = int((_steps(clip) == 6).sum())
        assert zeros + doubles == clip.jittered
        assert clip.indices[-1] - clip.indices[0] == 15 * 3 + 3 * (doubles - zeros)


def test_no_jitter_when_probability_zero_and_temporal_off_gives_centre_clip():
    rng = np.random.default_rng(2)
    clips = [
        train_clip(100, rng, num_frames=8, strides=[2, 3, 4], jitter_prob=0.0, jitter_max=5)
        for _ in range(100)
    ]
    assert all(c.jittered == 0 for c in clips)
    assert {c.stride for c in clips} == {2, 3, 4}
    assert len({c.start for c in clips}) > 10  # random starts
    centre = train_clip(100, rng, num_frames=8, strides=[4], random_start=False)
    assert centre.indices == tuple(range(35, 64, 4))  # span 29, start (100 - 29) // 2
    sampler = TrainSampler.from_config(SamplingConfig(num_frames=8, stride=4), temporal=False)
    assert all(sampler(100, 25.0, rng) == centre for _ in range(20))


@settings(max_examples=200, deadline=None)
@given(n=lengths, t=clip_frames, stride=st.integers(1, 8), k=st.integers(1, 10), mode=modes)
def test_uniform_clips_evenly_spaced_and_covering(n, t, stride, k, mode):
    clips = uniform_clips(n, num_frames=t, stride=stride, num_clips=k, short_video=mode)
    assert len(clips) == k
    for clip in clips:
        assert len(clip.indices) == t
        assert all(0 <= i < n for i in clip.indices)
    span = clip_span(t, stride)
    if n < span:
        return
    starts = [c.start for c in clips]
    assert all(set(_steps(c).tolist()) <= {stride} for c in clips)
    free = n - span
    if k == 1:
        assert starts[0] == free // 2
        return
    # the centres of k equal segments: symmetric about the middle, never pinned to the ends
    assert starts == [int(free * (j + 0.5) / k) for j in range(k)]
    assert abs(starts[0] - (free - starts[-1])) <= 1
    if free >= 2 * k:
        assert starts[0] > 0 and clips[-1].indices[-1] < n - 1  # off the still lead-in / tail
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced up to rounding


@settings(max_examples=200, deadline=None)
@given(n=lengths, t=clip_frames, seed=st.integers(0, 2**32 - 1))
def test_segment_clip_one_frame_per_segment(n, t, seed):
    for clip in (
        segment_clip(n, num_frames=t),
        segment_clip(n, num_frames=t, rng=np.random.default_rng(seed)),
    ):
        assert len(clip.indices) == t
        assert all(0 <= i < n for i in clip.indices)
        assert list(clip.indices) == sorted(clip.indices)
        for k, index in enumerate(clip.indices):  # frame k lies in segment k
            assert k * n // t <= index < max((k + 1) * n // t, k * n // t + 1)


def test_segment_centre_is_deterministic():
    assert segment_clip(80, num_frames=8).indices == tuple(range(4, 80, 10))


def test_frame_strides_from_seconds():
    assert frame_strides(30.0, 4, [3, 4, 5], None) == (4, [3, 4, 5])
    # 0.133 s at 30 fps = 4 frames; at 6 fps = 1 frame (train strides collapse to >= 1)
    assert frame_strides(30.0, 4, [3, 4, 5], 4 / 30) == (4, [3, 4, 5])
    assert frame_strides(60.0, 4, [3, 4, 5], 4 / 30) == (8, [6, 8, 10])
    assert frame_strides(6.0, 4, [3, 4, 5], 4 / 30) == (1, [1])
    assert frame_strides(29.97, 4, [2, 4], 4 / 30)[0] == 4
    with pytest.raises(DataError, match="stride_seconds"):
        frame_strides(0.0, 4, [4], 0.1)


def test_eval_sampler_modes():
    cfg = SamplingConfig(num_frames=4, stride=2)
    uniform = EvalSampler.from_config(cfg, num_clips=3)(50, 25.0)
    assert [c.start for c in uniform] == [7, 21, 35]  # centres of 3 segments of the 43 free
    segments = EvalSampler.from_config(cfg, mode="segments")(40, 25.0)
    assert segments == [segment_clip(40, num_frames=4)]


def _decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_sampled_indices_pick_the_right_frames_of_an_encoded_video(tmp_path):
    frames = numbered_frames(40, 48, 64)
    path = write_video(tmp_path / "numbered.mp4", frames, fps=25, codec="h264", crf=10)
    decoded = _decode_all(path)
    sampler = TrainSampler.from_config(
        SamplingConfig(num_frames=8, stride=3, jitter_prob=0.5, jitter_max=2)
    )
    rng = np.random.default_rng(0)
    for _ in range(10):
        clip = sampler(len(decoded), 25.0, rng)
        for index in clip.indices:  # the bright bar of frame i sits at column i
            assert int(decoded[index, -1, :, 0].argmax()) == index


def test_samplers_on_real_clips_with_stride_in_seconds(real_videos_dir):
    sampler = TrainSampler.from_config(SamplingConfig(stride_seconds=4 / 30, jitter_max=3))
    rng = np.random.default_rng(0)
    for name, expected_stride in [
        ("short_340x256_30fps_32frames.mp4", 4),
        ("ava_demo_340x256_6fps.mp4", 1),
    ]:
        path = real_videos_dir / name
        with av.open(str(path)) as container:
            fps = float(container.streams.video[0].average_rate)
        count = len(_decode_all(path))
        clips = [sampler(count, fps, rng) for _ in range(30)]
        assert all(max(c.indices) < count and len(c.indices) == 16 for c in clips)
        evals = EvalSampler.from_config(SamplingConfig(stride_seconds=4 / 30), num_clips=4)(
            count, fps
        )
        assert {c.stride for c in evals} == {expected_stride}
        assert all(max(c.indices) < count for c in evals)


def test_clips_follow_time_on_a_variable_frame_rate_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stride_seconds, clip positions and segments are times, not frame counts, on a video
    whose first half runs at ~15 fps and second half at ~36 fps."""
    from test_decode import vfr_times, write_vfr_video

    from motionfit.config import AugmentConfig
    from motionfit.data import dataset as dataset_module
    from motionfit.data.dataset import VideoClipDataset
    from motionfit.data.records import VideoRecord

    times = vfr_times(60)
    path = write_vfr_video(tmp_path / "vfr.mp4", numbered_frames(60), times)
    asked: list[list[int]] = []
    read = dataset_module.read_clip

    def spy(video, indices, **kwargs):
        asked.append(list(indices))
        return read(video, indices, **kwargs)

    monkeypatch.setattr(dataset_module, "read_clip", spy)
    sampling = SamplingConfig(num_frames=6, stride=2, stride_seconds=0.25, jitter_prob=0.0)
    augment = AugmentConfig(crop_size=32)
    interval = times[-1] / 59
    stride = round(0.25 / interval) * interval  # the stride in seconds on the 1/fps grid
    for mode in ("eval", "train"):
        asked.clear()
        VideoClipDataset([VideoRecord(path, 0)], mode=mode, sampling=sampling, augment=augment)[0]
        gaps = np.diff(times[asked[0]])
        assert np.all(np.abs(gaps - stride) <= 0.07), (mode, gaps)  # one widest frame gap
    asked.clear()
    segment = VideoRecord(path, 0, start=1.2, end=2.2)
    VideoClipDataset([segment], mode="eval", sampling=sampling, augment=augment)[0]
    assert times[asked[0]].min() >= 1.2 - 0.04 and times[asked[0]].max() <= 2.2 + 0.04
