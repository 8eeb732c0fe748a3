"""The debiasing augmentations (static blend, still mix, foreground paste) on real decoded
clips: clip-consistent, label-preserving, deterministic per (seed, epoch, sample), within their
strength ranges, and their config fields validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_fixtures import make_videos, run_cli, tiny_config

from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.debias import DEBIAS_KINDS, DebiasAugment, moving_region
from motionfit.data.guard import check_augmentations
from motionfit.data.records import read_records
from motionfit.models.build import build_model
from motionfit.train.task import VideoClassificationTask


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A training batch of 6 real decoded clips (3 classes), uint8 and float."""
    videos = make_videos(tmp_path_factory.mktemp("debias"), classes=3, per_class=2)
    config = tiny_config(videos, extra=["augment.enabled=false"])
    records, _ = read_records(videos)
    dataset = VideoClipDataset(
        records, mode="train", sampling=config.sampling, augment=config.augment
    )
    items = collate_clips([dataset[i] for i in range(len(dataset))])
    return {**items, "float": items["video"].float(), "config": config}


def keys(n: int, epoch: int = 0, seed: int = 0) -> list[tuple[int, int, int, int]]:
    return [(seed, epoch, i, 0) for i in range(n)]


def fitted_weight(out: torch.Tensor, clip: torch.Tensor) -> float:
    """``w`` of ``out_t = (1 - w) clip_t + w s`` from the frame-to-frame differences."""
    d_out, d_in = out[:, 1:] - out[:, :-1], clip[:, 1:] - clip[:, :-1]
    return 1.0 - float((d_out * d_in).sum() / (d_in * d_in).sum())


@pytest.mark.parametrize("kind", ["static_blend", "still_mix"])
def test_blends_add_the_same_still_frame_to_every_frame_within_the_strength_range(
    batch: dict, kind: str
) -> None:
    low, high = 0.25, 0.4
    augment = DebiasAugment(**{kind: 1.0, f"{kind}_strength": (low, high)})
    x = batch["float"]
    result = augment(x, keys(len(x)))
    assert result.applied[kind].all()
    for i in range(len(x)):
        w = fitted_weight(result.videos[i], x[i])
        assert low - 1e-4 <= w <= high + 1e-4
        added = result.videos[i] - (1 - w) * x[i]  # = w * still, the same in every frame
        assert torch.allclose(added, added[:, :1].expand_as(added), atol=1e-2)
        still = added[:, 0] / w
        sources = x[i : i + 1] if kind == "static_blend" else torch.cat([x[:i], x[i + 1 :]])
        distances = (sources - still[None, :, None]).abs().amax(dim=(1, 3, 4)).amin(dim=1)
        assert float(distances.min()) < 0.05  # a real frame of the clip / of another clip


def test_foreground_paste_keeps_the_moving_region_and_replaces_the_rest_in_every_frame(
    batch: dict,
) -> None:
    low, high = 0.2, 0.3
    augment = DebiasAugment(foreground_paste=1.0, foreground_paste_strength=(low, high))
    x = batch["float"]
    result = augment(x, keys(len(x)))
    for i in range(len(x)):
        kept = (result.videos[i] == x[i]).all(dim=0)  # [T, H, W]
        replaced = ~kept
        # the same region is kept in every frame, and what replaces the rest is a still frame
        assert torch.equal(kept, kept[:1].expand_as(kept))
        fraction = float(kept[0].float().mean())
        assert low - 0.1 <= fraction <= high + 0.1
        background = result.videos[i][:, replaced[0][None].expand_as(kept)]
        assert background.numel() > 0
        frames = result.videos[i].shape[1]
        per_frame = background.view(3, frames, -1)
        assert torch.equal(per_frame, per_frame[:, :1].expand_as(per_frame))


def test_moving_region_follows_the_moving_object() -> None:
    clip = torch.zeros(3, 8, 32, 32)
    for t in range(8):
        clip[:, t, 10:16, 2 + 3 * t : 8 + 3 * t] = 1.0  # a square moving right along a band
    mask = moving_region(clip[None], 0.2)[0, 0, 0]
    assert mask[10:16].float().mean() > 0.5 and mask[28:].sum() == 0
    assert abs(float(mask.float().mean()) - 0.2) < 0.02
    assert not moving_region(torch.ones(1, 3, 8, 32, 32), 0.5).any()  # static: no region


def test_augmentations_are_deterministic_per_seed_epoch_and_sample(batch: dict) -> None:
    augment = DebiasAugment(static_blend=0.5, still_mix=0.5, foreground_paste=0.5)
    x = batch["float"]
    first = augment(x, keys(len(x)))
    again = augment(x, keys(len(x)))
    assert torch.equal(first.videos, again.videos)
    other_epoch = augment(x, keys(len(x), epoch=1))
    assert not torch.equal(first.videos, other_epoch.videos)
    # a clip's own draws do not depend on its place in the batch (static blend uses no partner)
    blend = DebiasAugment(static_blend=1.0)
    order = [5, 4, 3, 2, 1, 0]
    forward = blend(x, keys(len(x))).videos
    shuffled = blend(x[order], [keys(len(x))[i] for i in order]).videos
    assert torch.equal(forward[order], shuffled)


def test_off_by_default_and_with_augmentation_disabled(batch: dict) -> None:
    config = batch["config"]
    assert not DebiasAugment.from_config(config.augment).enabled
    on = config.augment.model_copy(update={"still_mix": 1.0, "enabled": True})
    assert DebiasAugment.from_config(on).enabled
    off = on.model_copy(update={"enabled": False})
    assert not DebiasAugment.from_config(off).enabled


def test_training_step_keeps_labels_and_composes_with_mixup(batch: dict) -> None:
    config = tiny_config(
        Path("."),
        extra=[f"augment.{kind}=1.0" for kind in DEBIAS_KINDS] + ["augment.mix_prob=0"],
    )
    model = build_model("motioncnn_tiny", num_classes=3, num_frames=8, image_size=32)
    task = VideoClassificationTask(config, model, num_classes=3)
    inputs = {"video": batch["video"], "label": batch["label"], "index": batch["index"]}
    loss, _, targets = task.compute_loss(inputs, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert torch.equal(targets.argmax(dim=1), batch["label"])
    assert torch.all(targets.max(dim=1).values == 1)
    mixed = tiny_config(Path("."), extra=["augment.still_mix=1.0", "augment.mix_prob=1.0"])
    task = VideoClassificationTask(mixed, model, num_classes=3)
    loss, _, targets = task.compute_loss(inputs, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and torch.allclose(targets.sum(dim=1), torch.ones(6))


def test_guard_allows_the_debiasing_augmentations(batch: dict) -> None:
    cfg = batch["config"].augment.model_copy(
        update={"static_blend": 0.5, "still_mix": 0.5, "foreground_paste": 0.5, "strict": True}
    )
    assert check_augmentations(cfg) == []


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("augment.still_mix=1.5", "augment.still_mix"),
        ("augment.static_blend=-0.1", "augment.static_blend"),
        ("augment.foreground_paste_strength=[0.6,0.2]", "augment.foreground_paste_strength"),
        ("augment.still_mix_strength=[0.2,1.5]", "augment.still_mix_strength"),
        ("augment.static_blend_strength=0.3", "augment.static_blend_strength"),
    ],
)
def test_bad_values_are_one_line_errors_with_exit_code_2(
    override: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = run_cli(["config", "show", "demo", "--set", override])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and f"'{key}'" in err
