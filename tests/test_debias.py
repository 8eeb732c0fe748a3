"""The debiasing augmentations (static blend, still mix, foreground paste) on real decoded
clips: clip-consistent, label-preserving, deterministic per (seed, epoch, sample), within their
strength ranges, and their config fields validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_fixtures import make_videos, run_cli, tiny_config

from motionfit.config import schema
from motionfit.data.augment import AugmentContext, BatchState, build_stage, get, registered
from motionfit.data.augment._stills import moving_region
from motionfit.data.dataset import VideoClipDataset, collate_clips
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


DEBIAS_KINDS = ("static_blend", "still_mix", "foreground_paste")


def keys(n: int, epoch: int = 0, seed: int = 0) -> list[tuple[int, int, int, int]]:
    return [(seed, epoch, i, 0) for i in range(n)]


def debias(config, **settings: dict) -> list:
    """The debiasing augmentations with ``settings`` (kind -> section fields), others off."""
    sections = {kind: {"p": 0.0} for kind in DEBIAS_KINDS} | settings
    augment = config.augment.model_validate(
        {**config.augment.model_dump(), "enabled": True, **sections}
    )
    return build_stage(augment, "batch")


def run(steps: list, x: torch.Tensor, clip_keys: list) -> BatchState:
    """``x`` through ``steps`` (no mixing: targets stay one-hot)."""
    state = BatchState(x, torch.eye(len(x)), clip_keys, torch.Generator().manual_seed(0))
    for step in steps:
        if step.name != "mix":
            state = step(state)
    return state


def fitted_weight(out: torch.Tensor, clip: torch.Tensor) -> float:
    """``w`` of ``out_t = (1 - w) clip_t + w s`` from the frame-to-frame differences."""
    d_out, d_in = out[:, 1:] - out[:, :-1], clip[:, 1:] - clip[:, :-1]
    return 1.0 - float((d_out * d_in).sum() / (d_in * d_in).sum())


@pytest.mark.parametrize("kind", ["static_blend", "still_mix"])
def test_blends_add_the_same_still_frame_to_every_frame_within_the_strength_range(
    batch: dict, kind: str
) -> None:
    low, high = 0.25, 0.4
    steps = debias(batch["config"], **{kind: {"p": 1.0, "strength": (low, high)}})
    x = batch["float"]
    result = run(steps, x, keys(len(x)))
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
    steps = debias(batch["config"], foreground_paste={"p": 1.0, "strength": (low, high)})
    x = batch["float"]
    result = run(steps, x, keys(len(x)))
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
    steps = debias(batch["config"], **{kind: {"p": 0.5} for kind in DEBIAS_KINDS})
    x = batch["float"]
    first = run(steps, x, keys(len(x)))
    again = run(steps, x, keys(len(x)))
    assert torch.equal(first.videos, again.videos)
    other_epoch = run(steps, x, keys(len(x), epoch=1))
    assert not torch.equal(first.videos, other_epoch.videos)
    # a clip's own draws do not depend on its place in the batch (static blend uses no partner)
    blend = debias(batch["config"], static_blend={"p": 1.0})
    order = [5, 4, 3, 2, 1, 0]
    forward = run(blend, x, keys(len(x))).videos
    shuffled = run(blend, x[order], [keys(len(x))[i] for i in order]).videos
    assert torch.equal(forward[order], shuffled)
    # one augmentation's draws never shift another's: still mix alone or after static blend
    alone = run(debias(batch["config"], still_mix={"p": 0.5}), x, keys(len(x))).applied
    both = run(
        debias(batch["config"], still_mix={"p": 0.5}, static_blend={"p": 0.5}), x, keys(len(x))
    ).applied
    assert torch.equal(alone["still_mix"], both["still_mix"])


def test_off_by_default_and_with_augmentation_disabled(batch: dict) -> None:
    config = tiny_config(Path("."), extra=["augment.mix.p=0"])
    assert build_stage(config.augment, "batch") == []
    on = tiny_config(Path("."), extra=["augment.mix.p=0", "augment.still_mix.p=1"])
    assert [step.name for step in build_stage(on.augment, "batch")] == ["still_mix"]
    off = on.augment.model_copy(update={"enabled": False})
    assert build_stage(off, "batch") == []


def test_each_declares_its_stage_verdict_and_need_for_appearance() -> None:
    for kind in DEBIAS_KINDS:
        augmentation = get(kind)
        assert augmentation.stage == "batch" and augmentation.needs_appearance
        assert (
            augmentation.verdict.level in ("recommended", "allowed") and augmentation.verdict.reason
        )
        assert kind in registered("batch")
    assert [get(k).model_decided() for k in DEBIAS_KINDS] == [False, True, True]


def test_preview_draws_each_on_every_clip(batch: dict) -> None:
    clip, other = batch["video"][0], batch["video"][1]
    for kind in DEBIAS_KINDS:
        augmentation = get(kind)
        settings = augmentation.preview_settings(augmentation.settings_model())
        drawn = augmentation(settings, AugmentContext(batch["config"].augment)).preview(clip, other)
        assert drawn.dtype == torch.uint8 and drawn.shape == clip.shape
        assert not torch.equal(drawn, clip)


def test_training_step_keeps_labels_and_composes_with_mixup(batch: dict) -> None:
    config = tiny_config(
        Path("."),
        extra=[f"augment.{kind}.p=1.0" for kind in DEBIAS_KINDS] + ["augment.mix.p=0"],
    )
    model = build_model("motioncnn_tiny", num_classes=3, num_frames=8, image_size=32)
    task = VideoClassificationTask(config, model, num_classes=3)
    inputs = {"video": batch["video"], "label": batch["label"], "index": batch["index"]}
    loss, _, targets = task.compute_loss(inputs, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert torch.equal(targets.argmax(dim=1), batch["label"])
    assert torch.all(targets.max(dim=1).values == 1)
    mixed = tiny_config(Path("."), extra=["augment.still_mix.p=1.0", "augment.mix.p=1.0"])
    task = VideoClassificationTask(mixed, model, num_classes=3)
    loss, _, targets = task.compute_loss(inputs, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and torch.allclose(targets.sum(dim=1), torch.ones(6))


def test_guard_allows_the_debiasing_augmentations(batch: dict) -> None:
    on = [f"augment.{kind}.p=0.5" for kind in DEBIAS_KINDS]
    cfg = tiny_config(Path("."), extra=[*on, "augment.strict=true"]).augment
    assert check_augmentations(cfg) == []


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("augment.still_mix.p=1.5", "augment.still_mix.p"),
        ("augment.static_blend.p=-0.1", "augment.static_blend.p"),
        ("augment.foreground_paste.strength=[0.6,0.2]", "augment.foreground_paste.strength"),
        ("augment.still_mix.strength=[0.2,1.5]", "augment.still_mix.strength"),
        ("augment.static_blend.strength=0.3", "augment.static_blend.strength"),
    ],
)
def test_bad_values_are_one_line_errors_with_exit_code_2(
    override: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = run_cli(["config", "show", "demo", "--set", override])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and f"'{key}'" in err


def test_config_show_says_where_debiasing_comes_from(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(["config", "show", "demo", "--set", "model.name=motioncnn_tiny_rgb"]) == 0
    out = capsys.readouterr().out
    expected = (
        "  still_mix:\n    p: 0.5  # the model's default (motioncnn_tiny_rgb sees appearance)"
    )
    assert expected in out
    assert run_cli(["config", "show", "demo", "--set", "augment.still_mix.p=0.2"]) == 0
    out = capsys.readouterr().out
    assert (
        "    p: 0.2  # set by the config; motioncnn_tiny sees only motion, its default is 0.0"
        in out
    )
    # the old flat key still loads, with a note naming the new one
    monkeypatch.setattr(schema, "_DEPRECATION_NOTED", set())
    assert run_cli(["config", "show", "demo", "--set", "augment.still_mix=0.2"]) == 0
    out, err = capsys.readouterr()
    assert "    p: 0.2  # set by the config" in out
    note = "config key 'augment.still_mix' is deprecated; write augment.still_mix.p"
    assert err.count(note) == 1
