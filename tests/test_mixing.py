"""Video-level MixUp / CutMix on batches of real decoded clips."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from motionfit.config import AugmentConfig
from motionfit.data.augment import BatchState, build_stage
from motionfit.data.augment._mixing import VideoMixer
from motionfit.data.transforms import EvalTransform, VideoNormalize

NUM_CLASSES = 5


@pytest.fixture(scope="module")
def batch(real_videos) -> torch.Tensor:
    """One 4-frame 24x24 clip from each of 5 real videos (of 3 sizes), float [5, 3, 4, 24, 24]."""
    transform = EvalTransform(AugmentConfig(crop_size=24, short_side=28))
    clips = []
    for path in real_videos[:5]:
        with av.open(str(path)) as container:
            frames = []
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24", width=48, height=28))
                if len(frames) == 4:
                    break
        clips.append(transform(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2))[0])
    return VideoNormalize.from_config(AugmentConfig(mean=(0.45,) * 3, std=(0.225,) * 3))(
        torch.stack(clips)
    )


def _labels(size: int) -> torch.Tensor:
    return torch.arange(size) % NUM_CLASSES


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mixup_is_a_per_pair_blend_with_the_reported_lambda(batch):
    mixer = VideoMixer(NUM_CLASSES, mixup_alpha=0.8, cutmix_alpha=0.0)
    labels = _labels(5)
    result = mixer.mix(batch, labels, _gen(0))
    assert result.mode == "mixup"
    assert result.partner.tolist() == [4, 3, 2, 1, 0]
    lam = result.lam
    assert lam[0] == lam[4] and lam[1] == lam[3] and lam[2] == 1  # one lambda per pair
    assert lam[0] != lam[1]
    for i in range(5):
        j = int(result.partner[i])
        expected = lam[i] * batch[i] + (1 - lam[i]) * batch[j]
        assert torch.allclose(result.videos[i], expected, atol=1e-6)
        assert torch.allclose(result.targets[i, labels[i]], lam[i])
    assert torch.equal(result.videos[2], batch[2]) and result.targets[2, labels[2]] == 1
    assert torch.allclose(result.targets.sum(1), torch.ones(5))


def _box_masks(batch: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """Where each clip holds its partner's content, from clips offset by 1000 * index."""
    return (mixed / 1000).round() != torch.arange(len(batch)).view(-1, 1, 1, 1, 1)


def test_cutmix_box_is_the_same_in_every_frame_and_lambda_is_the_area(batch):
    marked = batch[:4] + 1000 * torch.arange(4).view(-1, 1, 1, 1, 1).float()
    mixer = VideoMixer(NUM_CLASSES, mixup_alpha=0.0, cutmix_alpha=1.0)
    for seed in range(10):
        result = mixer.mix(marked, _labels(4), _gen(seed))
        assert result.mode == "cutmix"
        masks = _box_masks(marked, result.videos)
        for i in range(4):
            mask = masks[i]
            assert torch.equal(mask, mask[:1, :1].expand_as(mask))  # every channel and frame
            rows, cols = mask[0, 0].any(1), mask[0, 0].any(0)
            assert torch.equal(mask[0, 0], rows[:, None] & cols[None, :])  # a rectangle
            area = float(mask[0, 0].float().mean())
            assert result.lam[i] == pytest.approx(1 - area, abs=1e-6)
            pasted = marked[int(result.partner[i])]
            assert torch.equal(result.videos[i][mask], pasted[mask])
        assert torch.allclose(result.targets.sum(1), torch.ones(4))


def test_frame_cutmix_moves_the_box_between_frames(batch):
    marked = batch[:4] + 1000 * torch.arange(4).view(-1, 1, 1, 1, 1).float()
    mixer = VideoMixer(NUM_CLASSES, mixup_alpha=0.0, frame_cutmix=True)
    result = mixer.mix(marked, _labels(4), _gen(1))
    assert result.mode == "frame_cutmix"
    masks = _box_masks(marked, result.videos)[:, 0]  # [B, T, H, W]
    assert any(not torch.equal(masks[i, 0], masks[i, t]) for i in range(4) for t in range(1, 4))
    areas = masks.float().mean((1, 2, 3))
    assert torch.allclose(result.lam, 1 - areas, atol=1e-6)
    assert torch.allclose(result.targets.sum(1), torch.ones(4))


def test_switch_probability_and_disabled_kinds(batch):
    labels = _labels(5)
    both = VideoMixer(NUM_CLASSES, switch_prob=0.5)
    modes = [both.mix(batch, labels, _gen(s)).mode for s in range(40)]
    assert {"mixup", "cutmix"} == set(modes)
    only_cut = VideoMixer(NUM_CLASSES, mixup_alpha=0.0, switch_prob=0.0)
    assert {only_cut.mix(batch, labels, _gen(s)).mode for s in range(10)} == {"cutmix"}
    only_mix = VideoMixer(NUM_CLASSES, cutmix_alpha=0.0, switch_prob=1.0)
    assert {only_mix.mix(batch, labels, _gen(s)).mode for s in range(10)} == {"mixup"}
    sometimes = VideoMixer(NUM_CLASSES, prob=0.5)
    mixed = [sometimes.mix(batch, labels, _gen(s)).mode != "none" for s in range(100)]
    assert 30 < sum(mixed) < 70


@pytest.mark.parametrize(
    "mixer",
    [
        VideoMixer(NUM_CLASSES, prob=0.0),
        VideoMixer(NUM_CLASSES, mixup_alpha=0.0, cutmix_alpha=0.0),
    ],
)
def test_disabled_mixer_returns_the_batch_and_one_hot_targets(batch, mixer):
    videos, targets = mixer(batch, _labels(5), _gen(0))
    assert torch.equal(videos, batch)
    assert torch.equal(targets, torch.eye(NUM_CLASSES)[_labels(5)])


def test_same_generator_seed_same_mix(batch):
    mixer = VideoMixer(NUM_CLASSES, frame_cutmix=False)
    for seed in range(5):
        a = mixer(batch, _labels(5), _gen(seed))
        b = mixer(batch, _labels(5), _gen(seed))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    outputs = {float(mixer(batch, _labels(5), _gen(s))[0][0].sum()) for s in range(10)}
    assert len(outputs) == 10


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_small_and_odd_batches(batch, size):
    for mixer in (VideoMixer(NUM_CLASSES, cutmix_alpha=0), VideoMixer(NUM_CLASSES, mixup_alpha=0)):
        videos, targets = mixer(batch[:size], _labels(size), _gen(size))
        assert videos.shape == batch[:size].shape
        assert torch.allclose(targets.sum(1), torch.ones(size))
        if size % 2:  # the middle clip is mixed with itself: unchanged, one-hot
            middle = size // 2
            assert torch.equal(videos[middle], batch[middle])
            assert targets[middle].max() == 1


def test_the_mix_section_turns_it_on_and_off():
    assert [s.name for s in build_stage(AugmentConfig(), "batch")] == ["mix"]
    for off in (
        {"mix": {"p": 0.0}},
        {"enabled": False},
        {"mix": {"mixup_alpha": 0, "cutmix_alpha": 0}},
    ):
        assert build_stage(AugmentConfig(**off), "batch") == []


def test_the_registered_mix_reads_its_section_and_mixes_soft_targets(batch):
    augment = AugmentConfig(mix={"mixup_alpha": 0.2, "cutmix_alpha": 0.0, "p": 1.0})
    [mix] = build_stage(augment, "batch")
    targets = torch.eye(NUM_CLASSES)[_labels(5)] * 0.5 + 0.1  # soft already
    state = mix(BatchState(batch, targets, [(0, 0, i, 0) for i in range(5)], _gen(3)))
    direct = VideoMixer(NUM_CLASSES, mixup_alpha=0.2, cutmix_alpha=0.0).mix(batch, targets, _gen(3))
    assert torch.equal(state.videos, direct.videos) and torch.equal(state.targets, direct.targets)
    assert direct.mode == "mixup" and torch.allclose(state.targets.sum(1), targets.sum(1))
    assert state.applied["mix"].tolist() == (direct.lam < 1).tolist()
