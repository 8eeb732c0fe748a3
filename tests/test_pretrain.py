"""Self-supervised VideoMAE pretraining on real encoded videos: tube masks, the reconstruction
targets and previews against transformers' loss, the loss falling, the CLI from an unlabeled
folder to a fine-tuned classifier, exact encoder transfer, resume, and config errors."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from run_fixtures import assert_informative_png, run_cli
from safetensors.torch import load_file

from motionfit.config import SamplingConfig, load_config
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.encode import write_video
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.data.transforms import VideoNormalize
from motionfit.errors import ConfigError
from motionfit.pretrain.data import UnlabeledDataModule
from motionfit.pretrain.fit import pretrain
from motionfit.pretrain.masking import tube_mask
from motionfit.pretrain.model import build_pretrainer
from motionfit.pretrain.patches import patchify, reconstruction_targets, unpatchify
from motionfit.pretrain.preview import reconstruct
from motionfit.run import RunPaths, load_run, read_metrics
from motionfit.train.fit import train

FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.log_every_n_steps=1",
    "output.tensorboard=false",
    "schedule.warmup_epochs=1",
]
IMAGENET = VideoNormalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.fixture(scope="module")
def smooth_videos(tmp_path_factory) -> Path:
    """A plain folder of 24 h264 clips (16 frames, 64x64): a square sliding over a colour ramp."""
    root = tmp_path_factory.mktemp("unlabeled")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 64
    for index in range(24):
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        ramp = (ramp - ramp.min()) / np.ptp(ramp)
        low, high = rng.uniform(0, 255, size=(2, 3))
        video = np.repeat((low + (high - low) * ramp[..., None])[None], 16, axis=0)
        x0, y0 = int(rng.integers(0, 32)), int(rng.integers(0, 48))
        for t in range(16):
            video[t, y0 : y0 + 16, x0 + t : x0 + t + 16] = 255 - low  # contrasting colour
        write_video(root / f"clip_{index:02d}.mp4", video.astype(np.uint8), fps=25)
    return root


@pytest.fixture(scope="module")
def labeled_videos(tmp_path_factory) -> Path:
    """3 motion classes x 4 generated h264 videos at 64x64."""
    root = tmp_path_factory.mktemp("labeled")
    return make_dataset(root / "synth", classes=3, per_class=4, size=(64, 64), frames=(16, 20))


@pytest.fixture(scope="module")
def pretrained_run(smooth_videos, tmp_path_factory) -> Path:
    """``motionfit pretrain`` (tiny recipe, 2 epochs) on the unlabeled folder."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    args = ["pretrain", "--config", "videomae_tiny_pretrain", "--data", str(smooth_videos)]
    args += ["--out", str(out), "--quiet"]
    for item in [*FAST, "train.epochs=2"]:
        args += ["--set", item]
    assert run_cli(args) == 0
    return out


def _pretrain_config(data: Path, *overrides: str):
    return load_config("videomae_tiny_pretrain", [f"data.source={data}", *FAST, *overrides])


# -- masking, targets, preview --------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "ratio", "per_frame"),
    [((4, 4, 4), 0.9, 14), ((8, 14, 14), 0.9, 176), ((8, 14, 14), 0.75, 147), ((2, 2, 2), 0.99, 3)],
)
def test_tube_masks_hide_the_ratio_with_equal_counts_per_clip(grid, ratio, per_frame):
    slots, height, width = grid
    mask = tube_mask(16, grid, ratio, torch.Generator().manual_seed(0))
    assert mask.shape == (16, slots * height * width) and mask.dtype == torch.bool
    assert (mask.sum(dim=1) == per_frame * slots).all()  # the same count in every clip
    tubes = mask.view(16, slots, height * width)
    assert (tubes == tubes[:, :1]).all()  # the same spatial patches in every tubelet slot
    assert len({tuple(row.tolist()) for row in tubes[:, 0]}) > 1  # clips draw their own masks
    again = tube_mask(16, grid, ratio, torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)


@pytest.mark.parametrize("norm_pix", [True, False])
def test_targets_and_previews_use_transformers_token_layout(smooth_videos, norm_pix):
    torch.manual_seed(0)
    model = build_pretrainer("videomae_tiny", 8, 64, norm_pix_loss=norm_pix).eval()
    records, _ = read_records(smooth_videos)
    config = _pretrain_config(smooth_videos)
    dataset = VideoClipDataset(
        records[:3], mode="eval", sampling=SamplingConfig(num_frames=8, stride=2),
        augment=config.augment,
    )  # fmt: skip
    video = torch.stack([dataset[i]["video"][0] for i in range(3)])  # uint8 [3, C, T, H, W]
    mask = tube_mask(3, model.grid, 0.9, torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss, logits = model.reconstruct_tokens(IMAGENET(video), mask)
    frames = video.permute(0, 2, 1, 3, 4).float() / 255
    targets = reconstruction_targets(frames, 2, 16, norm_pix)[mask].view(3, -1, logits.shape[-1])
    assert torch.allclose(loss, F.mse_loss(logits, targets), rtol=1e-4)
    assert torch.equal(unpatchify(patchify(frames, 2, 16), model.grid, 2, 16), frames)

    result = reconstruct(model, video, IMAGENET, 0.9, torch.Generator().manual_seed(1))
    visible = ~mask.view(3, *model.grid)  # [3, t, h, w] token grid
    pixels = visible.repeat_interleave(2, 1).repeat_interleave(16, 2).repeat_interleave(16, 3)
    pixels = pixels.unsqueeze(2).expand_as(frames)  # [3, T, C, H, W]
    assert torch.equal(result.reconstructed[pixels], frames[pixels])  # visible: the original
    assert torch.equal(result.masked[pixels], frames[pixels])
    assert (result.masked[~pixels] == 0.5).all()  # hidden: grey
    assert not torch.allclose(result.reconstructed[~pixels], frames[~pixels], atol=0.05)


# -- pretraining runs -----------------------------------------------------------------------


def test_reconstruction_loss_decreases_on_generated_videos(smooth_videos, tmp_path):
    # Pixel targets: in a few dozen steps a tiny model learns colours and layout; normalized
    # targets take far longer to fall (benchmarks/pretrain.py), and are checked exactly above.
    overrides = ["train.epochs=10", "pretrain.preview_every=0", "pretrain.norm_pix_loss=false"]
    result = pretrain(_pretrain_config(smooth_videos, *overrides), tmp_path / "run", progress=False)
    rows = read_metrics(tmp_path / "run/metrics.csv")
    assert result.steps >= 40 and [r["epoch"] for r in rows] == list(range(10))
    train_loss, val_loss = [r["train_loss"] for r in rows], [r["val_loss"] for r in rows]
    assert train_loss[-1] < 0.5 * train_loss[0], train_loss
    assert val_loss[-1] < 0.5 * val_loss[0], val_loss


def test_cli_pretrains_from_a_folder_then_fine_tunes_from_the_run(
    pretrained_run, labeled_videos, tmp_path
):
    for name in (
        "config.yaml",
        "config.json",
        "model.safetensors",
        "metrics.csv",
        "curves.png",
        "split/train.txt",
        "split/val.txt",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "previews/epoch_001.png",
        "previews/epoch_002.png",
    ):
        assert (pretrained_run / name).is_file(), name
    assert not (pretrained_run / "labels.txt").exists()
    rows = read_metrics(pretrained_run / "metrics.csv")
    assert list(rows[0]) == ["epoch", "step", "train_loss", "val_loss", "data_wait", "lr"]
    assert all(not math.isnan(r["val_loss"]) for r in rows)
    assert_informative_png(pretrained_run / "preview.png", min_width=600, min_height=400)

    out = tmp_path / "finetune"
    args = ["train", "--config", "videomae_tiny_finetune", "--data", str(labeled_videos)]
    args += ["--init-from", str(pretrained_run), "--out", str(out), "--quiet"]
    for item in [*FAST, "train.epochs=1", "augment.hflip=0"]:
        args += ["--set", item]
    assert run_cli(args) == 0
    loaded = load_run(out)
    assert loaded.model(torch.zeros(1, 3, 8, 64, 64)).shape == (1, 3)


def test_metrics_hold_the_share_of_step_time_spent_waiting_for_data(pretrained_run):
    # the same train/data_wait readout as fine-tuning (train/timing.py DataWaitTimer)
    rows = read_metrics(pretrained_run / "metrics.csv")
    assert len(rows) == 2 and all("data_wait" in row for row in rows)
    assert all(0.0 <= row["data_wait"] <= 1.0 for row in rows), rows


class _CaptureAtStart(L.Callback):
    """The model's weights and optimizer groups when training starts (before step 0)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}
        self.scales = {g["layer_id"]: g["lr_scale"] for g in trainer.optimizers[0].param_groups}


def test_fine_tuning_starts_from_the_pretrained_encoder_exactly(
    pretrained_run, labeled_videos, tmp_path
):
    config = load_config(
        "videomae_tiny_finetune",
        [f"data.source={labeled_videos}", *FAST, "train.max_steps=1", "augment.hflip=0"],
    )
    capture = _CaptureAtStart()
    train(config, tmp_path / "ft", init_from=pretrained_run, progress=False, callbacks=[capture])
    pretrained = load_file(pretrained_run / "model.safetensors")
    encoder = [k for k in pretrained if k.startswith("videomae.")]
    assert len(encoder) == len([k for k in capture.state if k.startswith("videomae.")]) > 20
    for key in encoder:
        assert torch.equal(capture.state[key], pretrained[key]), key
    assert not any(k.startswith(("head.", "fc_norm.")) for k in pretrained)  # a new head
    assert any(k.startswith("decoder.") for k in pretrained)  # the decoder stays behind
    # layer decay 0.75 (VideoMAE's fine-tuning recipe) over embeddings, 2 blocks, head
    assert capture.scales == pytest.approx({0: 0.75**3, 1: 0.75**2, 2: 0.75, 3: 1.0})


def test_resumed_pretraining_matches_an_uninterrupted_run(smooth_videos, tmp_path):
    # "cut" ends on its epoch-end checkpoint: what a kill right after that checkpoint leaves.
    # With the recipe's loader worker (its default), epoch 1 used to be drawn in epoch 0's order
    steady = ["schedule.name=constant", "schedule.warmup_epochs=0", "pretrain.preview_every=0"]
    steady.append("data.num_workers=1")
    straight = _pretrain_config(smooth_videos, "train.epochs=2", *steady)
    pretrain(straight, tmp_path / "straight", progress=False)
    cut = _pretrain_config(smooth_videos, "train.epochs=1", *steady)
    first = pretrain(cut, tmp_path / "cut", progress=False)
    resumed_config = load_config(RunPaths(tmp_path / "cut").config, ["train.epochs=2"])
    resumed = pretrain(resumed_config, tmp_path / "cut", resume=True, progress=False)
    assert resumed.steps == 2 * first.steps
    a = read_metrics(tmp_path / "straight/metrics.csv")
    b = read_metrics(tmp_path / "cut/metrics.csv")
    assert [r["epoch"] for r in b] == [0, 1]
    for ra, rb in zip(a, b, strict=True):
        for key in ("step", "train_loss", "val_loss"):
            assert math.isclose(ra[key], rb[key], rel_tol=1e-5), (key, ra, rb)
    wa = torch.load(tmp_path / "straight/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "cut/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


# -- data and config ------------------------------------------------------------------------


def test_labels_are_ignored_and_a_fraction_is_held_out(labeled_videos, tmp_path):
    config = _pretrain_config(labeled_videos, "data.format=folder", "pretrain.val_fraction=0.25")
    data = UnlabeledDataModule(config, RunPaths(tmp_path / "run"))
    data.prepare_records()
    assert len(data.train_records) == 9 and len(data.val_records) == 3
    assert {r.label for r in data.train_records + data.val_records} == {-1}
    assert not {r.path for r in data.train_records} & {r.path for r in data.val_records}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.name=motioncnn_tiny", "augment.crop_size=32"], "needs a VideoMAE model"),
        (["train.monitor=val/top1"], "train.monitor"),
        (["pretrain.val_fraction=0"], "val/loss needs held-out videos"),
        (["pretrain.norm_pix_loss=false", "augment.mean=[0.5,0.5,0.5]"], "ImageNet"),
    ],
)
def test_config_mistakes_fail_before_anything_is_written(
    smooth_videos, tmp_path, overrides, message
):
    with pytest.raises(ConfigError, match=message):
        pretrain(_pretrain_config(smooth_videos, *overrides), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
