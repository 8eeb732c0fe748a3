"""``motionfit data preview``: a grid of augmented samples of one video, so users can see what
their temporal and spatial augmentation does (rows = samples, columns = frames)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from motionfit.config import Config
from motionfit.data.debias import DEBIAS_KINDS, DebiasAugment
from motionfit.data.decode import probe, read_clip, timeline_frames
from motionfit.data.records import read_records
from motionfit.data.sampling import EvalSampler, TrainSampler
from motionfit.data.transforms import EvalTransform, TrainTransform, decode_short_side
from motionfit.errors import DataError


def pick_video(source: str | Path, index: int = 0, format: str = "auto") -> Path:
    """``source`` itself if it is a video file, else its ``index``-th video."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() not in {".txt", ".csv", ".lst"}:
        return path
    records, _ = read_records(source, format=format)
    if not 0 <= index < len(records):
        raise DataError(f"{source}: --index {index} is out of range (0..{len(records) - 1})")
    return records[index].path


def pick_partner(source: str | Path, index: int = 0, format: str = "auto") -> Path | None:
    """Another video of the dataset ``source`` (the one after ``index``), to show the debiasing
    augmentations that take a second video; None when ``source`` is one video."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() not in {".txt", ".csv", ".lst"}:
        return None
    records, _ = read_records(source, format=format)
    return records[(index + 1) % len(records)].path if len(records) > 1 else None


def preview_grid(
    video: str | Path,
    config: Config,
    out: str | Path,
    rows: int = 4,
    seed: int = 0,
    partner: str | Path | None = None,
) -> Path:
    """Write a PNG: the first row is the eval view, the next ``rows`` are training samples
    (random start, stride, jitter, crop, flip, colour...) of ``video``, one column per frame;
    then one row per debiasing augmentation the config turns on, applied to the first training
    sample (the still frame of ``still_mix`` and the background of ``foreground_paste`` come
    from ``partner``, or from ``video`` itself when there is none).

    Frames are read as the training dataset reads them: sampler positions are mapped to frames
    by time (:func:`~motionfit.data.decode.timeline_frames`, which matters on a
    variable-frame-rate video) and decoded at the same size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = probe(video, config.sampling.frames_fps)
    short_side = decode_short_side(meta.width, meta.height, config.augment.resolved_short_side())
    train_sampler = TrainSampler.from_config(
        config.sampling, temporal=config.augment.enabled and config.augment.temporal
    )
    eval_clip = EvalSampler.from_config(config.sampling)(meta.num_frames, meta.fps)[0]
    train_transform = TrainTransform(config.augment)
    eval_view = EvalTransform(config.augment)(_read(video, eval_clip.indices, short_side))[0]
    samples = [("eval", eval_view)]
    for row in range(rows):
        rng = np.random.default_rng([seed, row])
        clip = train_sampler(meta.num_frames, meta.fps, rng)
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        frames, flipped = train_transform(_read(video, clip.indices, short_side), generator)
        label = f"train {row + 1}: stride {clip.stride}, jitter {clip.jittered}" + (
            ", flipped" if flipped else ""
        )
        samples.append((label, frames))
    samples.extend(_debias_rows(config, samples[1][1], partner or video, seed))
    num_frames = samples[0][1].shape[1]
    fig, axes = plt.subplots(
        len(samples),
        num_frames,
        squeeze=False,
        figsize=(1.3 * num_frames, 1.45 * len(samples)),
        dpi=100,
    )
    for r, (label, view) in enumerate(samples):  # view: uint8 [C, T, H, W]
        for t in range(num_frames):
            axes[r][t].imshow(view[:, t].permute(1, 2, 0).numpy())
            axes[r][t].set_axis_off()
        axes[r][0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(f"{Path(video).name}: {meta.num_frames} frames @ {meta.fps:g} fps", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _debias_rows(
    config: Config, clip: torch.Tensor, partner: str | Path, seed: int
) -> list[tuple[str, torch.Tensor]]:
    """One (label, uint8 clip) row per debiasing augmentation on in ``config``, each applied
    (with probability 1) to ``clip`` with ``partner``'s eval view as the other video."""
    cfg = config.augment
    if not any(cfg.debias_probability(kind) > 0 for kind in DEBIAS_KINDS):
        return []
    meta = probe(partner, config.sampling.frames_fps)
    short_side = decode_short_side(meta.width, meta.height, cfg.resolved_short_side())
    indices = EvalSampler.from_config(config.sampling)(meta.num_frames, meta.fps)[0].indices
    other = EvalTransform(cfg)(_read(partner, indices, short_side))[0]
    batch = torch.stack([clip, other]).float()
    rows = []
    for kind in DEBIAS_KINDS:
        if cfg.debias_probability(kind) <= 0:
            continue
        settings = {kind: 1.0, f"{kind}_strength": getattr(cfg, f"{kind}_strength")}
        augmented = DebiasAugment(**settings)(batch, [(seed, 0, 0, 0), (seed, 0, 1, 0)])
        image = augmented.videos[0].round().clamp(0, 255).to(torch.uint8)
        low, high = settings[f"{kind}_strength"]
        probability = cfg.debias_probability(kind)
        rows.append((f"{kind} (p={probability:g}, strength {low:g}-{high:g})", image))
    return rows


def _read(video: str | Path, positions: Sequence[int], short_side: int | None) -> torch.Tensor:
    """uint8 ``[T, C, H, W]`` frames at sampler ``positions`` of ``video``, mapped to frames by
    time as :class:`~motionfit.data.dataset.VideoClipDataset` maps them (at a constant rate
    positions are frame numbers)."""
    return read_clip(video, timeline_frames(video, positions), short_side)
