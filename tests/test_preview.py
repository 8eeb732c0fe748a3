"""``motionfit data preview`` reads the frames training reads: by time on a variable-frame-rate
video, at the size the training dataset decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import numbered_frames
from run_fixtures import assert_informative_png
from test_decode import vfr_times, write_vfr_video

from motionfit.config import load_config
from motionfit.data import dataset as dataset_module
from motionfit.data import preview as preview_module
from motionfit.data.augment import registered
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.decode import timeline_frames
from motionfit.data.records import VideoRecord
from motionfit.data.sampling import ClipIndices, TrainSampler

NUM_FRAMES = 60
POSITIONS = (0, 8, 16, 24, 32, 40, 48, 56)  # a fixed training clip, on the 1/fps timeline

MODEL_DECIDED = [name for name, a in registered().items() if a.model_decided()]


def spy_reads(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> list[tuple[list[int], torch.Tensor]]:
    """Record (frame indices, decoded frames) of every ``read_clip`` call made by ``module``."""
    reads: list[tuple[list[int], torch.Tensor]] = []
    read = module.read_clip  # type: ignore[attr-defined]

    def spy(video, indices, *args, **kwargs):
        frames = read(video, indices, *args, **kwargs)
        reads.append(([int(i) for i in indices], frames))
        return frames

    monkeypatch.setattr(module, "read_clip", spy)
    return reads


def test_preview_reads_the_frames_training_reads_on_a_variable_frame_rate_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = vfr_times(NUM_FRAMES)  # ~15 fps first half, ~36 fps second half
    video = write_vfr_video(tmp_path / "vfr.mp4", numbered_frames(NUM_FRAMES), times)
    config = load_config(
        None,
        [
            "sampling.num_frames=8",
            "sampling.stride=8",
            "sampling.jitter_prob=0",
            "augment.crop_size=32",
            "augment.static_blend.p=0.5",  # its row reads the partner (here the video itself)
            *(f"augment.{name}.p=0" for name in MODEL_DECIDED),  # the other debiasing: off
        ],
    )
    # both draw the same training clip positions, so their reads can be compared
    fixed = ClipIndices(POSITIONS, stride=8, start=0, jittered=False)
    monkeypatch.setattr(TrainSampler, "__call__", lambda self, n, fps, rng: fixed)
    previewed = spy_reads(monkeypatch, preview_module)
    trained = spy_reads(monkeypatch, dataset_module)

    out = preview_module.preview_grid(video, config, tmp_path / "preview.png", rows=1)
    assert_informative_png(out)
    for mode in ("eval", "train"):
        VideoClipDataset(
            [VideoRecord(video, 0)], mode=mode, sampling=config.sampling, augment=config.augment
        )[0]

    # preview: eval view, one training sample, the partner's eval view; training: eval, train
    assert len(previewed) == 3 and len(trained) == 2
    for (preview_frames, preview_pixels), (train_frames, train_pixels) in zip(
        previewed, [*trained, trained[0]], strict=True
    ):
        assert preview_frames == train_frames
        assert torch.equal(preview_pixels, train_pixels)  # same frames at the same decode size
    # the training row is the fixed clip mapped by time, not by frame count
    train_frames = previewed[1][0]
    assert train_frames == timeline_frames(video, POSITIONS)
    assert train_frames != list(POSITIONS)
    interval = times[-1] / (NUM_FRAMES - 1)
    assert np.all(np.abs(times[train_frames] - np.asarray(POSITIONS) * interval) <= 0.036)
    # and the decoded content is those frames (a bright column at x = frame number)
    columns = previewed[1][1].float().mean(dim=1)[:, -4:, :].mean(dim=1).argmax(dim=1)
    assert columns.tolist() == train_frames
