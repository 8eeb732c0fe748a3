"""What a config asks of the machine, checked before any work starts.

A clip is ``3 x sampling.num_frames x augment.crop_size^2`` bytes as uint8 and four times that
as float32 on its way into the model. A training batch (``train.batch_size`` clips) or an
evaluation batch (``eval.batch_size`` videos x their views) that cannot be held in this
machine's memory would fail inside a DataLoader worker (an allocation error, or the kernel
killing the process) long after the run started, so it is a :class:`ConfigError` naming the keys
at once. Views per video (clips x crops) are bounded by :data:`MAX_VIEWS`: a larger count is a
typo, and would decode for hours before the first batch.
"""

from __future__ import annotations

import os

from motionfit.config import Config
from motionfit.errors import ConfigError

MAX_VIEWS = 1000
"""Most views (clips x crops) scored per video; published protocols use up to 30."""
_BYTES_PER_CLIP_BYTE = 1 + 4  # the uint8 clip and its float32 copy


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def clip_bytes(config: Config) -> int:
    """Bytes of one uint8 clip of ``config``."""
    return 3 * config.sampling.num_frames * config.augment.crop_size**2


def check_views(config: Config, clips: int | None = None, crops: int | None = None) -> None:
    """:class:`ConfigError` when test-time or validation views per video exceed
    :data:`MAX_VIEWS` (``clips``/``crops`` override the config's ``eval.clips``/``eval.crops``)."""
    test = ((clips or config.eval.clips), (crops or config.eval.crops))
    for (count, per), keys in (
        (test, "'eval.clips' x 'eval.crops'"),
        (config.eval.validation_views(), "'eval.val_clips' x 'eval.val_crops'"),
    ):
        if count * per > MAX_VIEWS:
            raise ConfigError(
                f"config keys {keys}: {count} x {per} views per video, more than the "
                f"{MAX_VIEWS} motionfit scores (published protocols use up to 30)"
            )


def check_training_memory(config: Config) -> None:
    """:class:`ConfigError` when one training batch (``train.batch_size`` clips, uint8 and
    float32), or one validation batch, does not fit in this machine's memory."""
    check_views(config)
    per_clip = clip_bytes(config) * _BYTES_PER_CLIP_BYTE
    train = config.train.batch_size * per_clip
    keys = "'augment.crop_size', 'sampling.num_frames', 'train.batch_size'"
    _check_fits(train, config, keys, f"one training batch of {config.train.batch_size} clips")
    check_eval_memory(config, *config.eval.validation_views())


def check_eval_memory(
    config: Config, clips: int | None = None, crops: int | None = None, batch: int | None = None
) -> None:
    """:class:`ConfigError` when one evaluation batch (``batch`` or ``eval.batch_size`` videos,
    each ``clips`` x ``crops`` views) does not fit in this machine's memory, or the views exceed
    :data:`MAX_VIEWS`."""
    check_views(config, clips, crops)
    views = (clips or config.eval.clips) * (crops or config.eval.crops)
    videos = batch or config.eval.batch_size
    need = videos * views * clip_bytes(config) * _BYTES_PER_CLIP_BYTE
    keys = "'augment.crop_size', 'sampling.num_frames', 'eval.batch_size'"
    _check_fits(need, config, keys, f"one evaluation batch of {videos} videos x {views} views")


def _check_fits(need: int, config: Config, keys: str, what: str) -> None:
    memory = physical_memory()
    if memory is None or need <= memory:
        return
    raise ConfigError(
        f"config keys {keys} (crop {config.augment.crop_size} px, {config.sampling.num_frames} "
        f"frames): {what} needs {_gib(need)} of memory, more than this machine's {_gib(memory)}"
    )


def _gib(count: int) -> str:
    value = count / 2**30
    return f"{value:.3g} GiB" if value < 1e6 else f"{value:.2e} GiB"
