"""``motionfit data preview``: a grid of augmented samples of one video, so users can see what
their temporal and spatial augmentation does (rows = samples, columns = frames)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfit.config import Config
from motionfit.data.augment import AugmentContext, registered
from motionfit.data.decode import probe, read_clip, timeline_frames
from motionfit.data.records import read_records
from motionfit.data.sampling import EvalSampler, TrainSampler
from motionfit.data.storage import as_path
from motionfit.data.transforms import EvalTransform, TrainTransform, decode_short_side
from motionfit.errors import DataError


@dataclass(frozen=True)
class PreviewSource:
    """What ``data preview`` draws from: the ``video``, another video of its dataset as the
    ``partner`` of augmentations that take one (None for a single video), and the dataset's
    class names (for augmentations with label maps)."""

    video: Path
    partner: Path | None
    class_names: tuple[str, ...]


def pick_source(source: str | Path, index: int = 0, format: str = "auto") -> PreviewSource:
    """``source`` itself if it is a video file, else its ``index``-th video, the one after it as
    the partner and the dataset's classes (the records are read once)."""
    path = as_path(source)
    if path.is_file() and path.suffix.lower() not in {".txt", ".csv", ".lst"}:
        return PreviewSource(path, None, ())
    records, labels = read_records(source, format=format)
    if not 0 <= index < len(records):
        raise DataError(f"{source}: --index {index} is out of range (0..{len(records) - 1})")
    partner = records[(index + 1) % len(records)].path if len(records) > 1 else None
    return PreviewSource(records[index].path, partner, labels.names)


def preview_grid(
    video: str | Path,
    config: Config,
    out: str | Path,
    rows: int = 4,
    seed: int = 0,
    partner: str | Path | None = None,
    class_names: Sequence[str] = (),
) -> Path:
    """Write a PNG: the first row is the eval view, the next ``rows`` are training samples
    (random start, stride, jitter, crop, flip, colour...) of ``video``, one column per frame;
    then one row per clip-temporal or batch augmentation the config turns on, drawn as the
    augmentation says (:meth:`~motionfit.data.augment.Augmentation.preview`) on the first
    training sample, with ``partner`` (or ``video`` itself when there is none) as the other
    video of those that take one.

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
    samples.extend(_augmentation_rows(config, samples[1][1], partner or video, class_names))
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


def _augmentation_rows(
    config: Config, clip: torch.Tensor, partner: str | Path, class_names: Sequence[str]
) -> list[tuple[str, torch.Tensor]]:
    """One (label, uint8 clip) row per registered augmentation on in ``config`` that draws its
    own preview, applied to every clip (``p = 1``) with ``partner``'s eval view as the other
    video."""
    cfg = config.augment
    chosen = [
        (name, augmentation, cfg.settings(name))
        for name, augmentation in registered().items()
        if augmentation.is_on(cfg.settings(name)) and augmentation.stage != "clip-spatial"
    ]
    if not cfg.enabled or not chosen:
        return []
    meta = probe(partner, config.sampling.frames_fps)
    short_side = decode_short_side(meta.width, meta.height, cfg.resolved_short_side())
    indices = EvalSampler.from_config(config.sampling)(meta.num_frames, meta.fps)[0].indices
    other = EvalTransform(cfg)(_read(partner, indices, short_side))[0]
    context = AugmentContext(cfg, tuple(class_names))
    rows = []
    for name, augmentation, settings in chosen:
        drawn = augmentation(augmentation.preview_settings(settings), context)
        image = drawn.preview(clip, other)
        if image is not None:
            rows.append((f"{name} ({_describe(settings)})", image))
    return rows


def _describe(settings: object) -> str:
    """``p=0.5, strength 0.3-0.6``: a section's values in a row title."""
    parts = []
    for field, value in vars(settings).items():
        if isinstance(value, tuple) and len(value) == 2:
            parts.append(f"{field} {value[0]:g}-{value[1]:g}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"{field}={value:g}")
    return ", ".join(parts)


def _read(video: str | Path, positions: Sequence[int], short_side: int | None) -> torch.Tensor:
    """uint8 ``[T, C, H, W]`` frames at sampler ``positions`` of ``video``, mapped to frames by
    time as :class:`~motionfit.data.dataset.VideoClipDataset` maps them (at a constant rate
    positions are frame numbers)."""
    return read_clip(video, timeline_frames(video, positions), short_side)
