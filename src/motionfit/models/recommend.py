"""``motionfit recommend``: which model, size and recipe to start from, and why.

The advice encodes the reference results of each family: VideoMAE for the best accuracy, above
all with little labeled data; Video Swin for stable, easy fine-tuning with 32-frame clips; MViT
for compute efficiency at 16 frames; TimeSformer for a pure space-time transformer; R(2+1)D as
a CNN baseline. Memory figures are rules of thumb (estimates, easily off by +-50%):

- activations: ~0.012 GB per forward GFLOP of one clip, with bf16 mixed precision and no
  activation checkpointing (GFLOPs from the model cards, scaled linearly with clip length);
- weights, gradients and AdamW moments in fp32: 16 bytes per parameter;
- ~1 GB of CUDA context and workspace; plan to use 90% of the GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from motionfit.config import Config, load_config
from motionfit.errors import ConfigError, ModelError
from motionfit.models.cards import ModelCard, model_cards

Priority = Literal["accuracy", "speed", "stability"]

ACTIVATION_GB_PER_GFLOP = 0.012
STATE_BYTES_PER_PARAM = 16
OVERHEAD_GB = 1.0
USABLE_FRACTION = 0.9
DEFAULT_BATCH = 8  # clips per optimizer step when the model has no recipe
MIN_BATCH = 2  # fewer clips per step make batch statistics and mixing meaningless
SCARCE_VIDEOS = 500  # below this, transformers fine-tuned from Kinetics overfit easily
LARGE_MODEL_VIDEOS = 10_000  # models above LARGE_MODEL_PARAMS_M need at least this much data
LARGE_MODEL_PARAMS_M = 100.0

FAMILY_ORDER: dict[str, tuple[str, ...]] = {
    "accuracy": ("videomae", "swin", "mvit", "timesformer", "cnn"),
    "speed": ("mvit", "cnn", "swin", "videomae", "timesformer"),
    "stability": ("swin", "mvit", "videomae", "cnn", "timesformer"),
}
FAMILY_TITLE = {
    "videomae": "VideoMAE",
    "swin": "Video Swin",
    "mvit": "MViT",
    "timesformer": "TimeSformer",
    "cnn": "R(2+1)D",
}
FAMILY_REASON = {
    "videomae": "VideoMAE gives the best accuracy, above all with little labeled data",
    "swin": "Video Swin fine-tunes stably and easily, with 32-frame clips",
    "mvit": "MViT is the most compute-efficient family at 16 frames",
    "timesformer": "TimeSformer is a pure space-time transformer (divided attention)",
    "cnn": "R(2+1)D is a cheap CNN baseline that fits small GPUs",
}


@dataclass(frozen=True)
class Recommendation:
    """What to train first.

    Attributes:
        model: registered model name.
        family: its family.
        recipe: the recipe to start from (``None``: schema defaults plus ``model.name``).
        frames: clip length to train with.
        size: input size (the model's default).
        batch_size: clips per step that fit (estimate).
        accumulate: gradient accumulation to reach the recipe's batch.
        memory_gb: estimated training memory at ``batch_size``.
        reason: why this family and size.
        notes: warnings (scarce data, clip length, memory).
        commands: ready command lines, in order.
    """

    model: str
    family: str
    recipe: str | None
    frames: int
    size: int
    batch_size: int
    accumulate: int
    memory_gb: float
    reason: str
    notes: tuple[str, ...]
    commands: tuple[str, ...]


def clip_memory_gb(card: ModelCard, frames: int) -> float:
    """Estimated activation memory of one training clip (GB)."""
    return ACTIVATION_GB_PER_GFLOP * card.gflops * frames / card.frames


def static_memory_gb(card: ModelCard) -> float:
    """Estimated memory of weights, gradients, optimizer state and CUDA context (GB)."""
    return OVERHEAD_GB + card.params_m * 1e6 * STATE_BYTES_PER_PARAM / 1e9


def max_batch(card: ModelCard, frames: int, gpu_memory_gb: float) -> int:
    """The largest batch that fits in ``gpu_memory_gb`` by the rules of thumb (0 = none)."""
    free = gpu_memory_gb * USABLE_FRACTION - static_memory_gb(card)
    return max(0, math.floor(free / clip_memory_gb(card, frames)))


def recommend(
    labeled_videos: int,
    frames: int,
    gpu_memory_gb: float,
    priority: Priority,
    data: str = "DATA",
    cards: list[ModelCard] | None = None,
) -> Recommendation:
    """Pick a model for ``labeled_videos`` labeled clips at ``frames`` frames on a GPU with
    ``gpu_memory_gb`` GB, favouring ``priority``; ``data`` goes into the train command."""
    if priority not in FAMILY_ORDER:
        raise ModelError(f"priority must be one of {', '.join(FAMILY_ORDER)}, got '{priority}'")
    if labeled_videos < 1 or frames < 1 or gpu_memory_gb <= 0:
        raise ModelError("labeled videos, frames and GPU memory must be positive")
    candidates = [c for c in (cards if cards is not None else model_cards()) if not c.tiny]
    if not candidates:
        raise ModelError("no full-size model is registered")
    card, clip_frames, batch = _choose(candidates, labeled_videos, frames, gpu_memory_gb, priority)
    notes = []
    if batch < MIN_BATCH:
        notes.append(
            f"{card.name} does not fit {MIN_BATCH} clips in {gpu_memory_gb:g} GB even by the "
            "estimate; lower augment.crop_size or sampling.num_frames, or use a larger GPU"
        )
        batch = max(batch, 1)
    if clip_frames != card.frames:
        notes.append(
            f"{card.name}'s reference clip is {card.frames} frames; training at {clip_frames} "
            "adapts its position tables (expect to need more epochs)"
        )
    pretrain_first = card.family == "videomae" and labeled_videos < SCARCE_VIDEOS
    if labeled_videos < SCARCE_VIDEOS:
        notes.append(_scarcity_note(card, labeled_videos, pretrain_first))
    recipe = _recipe_config(card)
    target = recipe.train.batch_size if recipe is not None else DEFAULT_BATCH
    accumulate = max(1, math.ceil(target / batch))
    batch = min(batch, target)
    memory = static_memory_gb(card) + batch * clip_memory_gb(card, clip_frames)
    return Recommendation(
        model=card.name,
        family=card.family,
        recipe=card.recipe,
        frames=clip_frames,
        size=card.size,
        batch_size=batch,
        accumulate=accumulate,
        memory_gb=round(memory, 1),
        reason=_reason(card, candidates, priority, labeled_videos),
        notes=tuple(notes),
        commands=_commands(card, recipe, clip_frames, batch, accumulate, data, pretrain_first),
    )


def format_recommendation(rec: Recommendation) -> str:
    """The recommendation as the lines ``motionfit recommend`` prints."""
    lines = [
        f"Start from: {rec.model} ({rec.family}), recipe {rec.recipe or '(defaults)'}, "
        f"{rec.frames} frames at {rec.size}px",
        f"Why: {rec.reason}",
        f"Memory (estimate, +-50%): ~{rec.memory_gb:g} GB at batch {rec.batch_size}"
        + (f" x {rec.accumulate} accumulation steps" if rec.accumulate > 1 else ""),
    ]
    lines += [f"Note: {note}" for note in rec.notes]
    lines.append("Run:")
    lines += [f"  {command}" for command in rec.commands]
    return "\n".join(lines)


def _choose(
    cards: list[ModelCard], labeled: int, frames: int, gpu_gb: float, priority: Priority
) -> tuple[ModelCard, int, int]:
    """The first family in priority order with a model that fits; in it the largest model
    (accuracy) or the smallest (speed, stability). Falls back to the smallest model overall."""
    for family in FAMILY_ORDER[priority]:
        members = [c for c in cards if c.family == family]
        if labeled < LARGE_MODEL_VIDEOS:
            members = [c for c in members if c.params_m <= LARGE_MODEL_PARAMS_M]
        members.sort(key=lambda c: c.params_m, reverse=priority == "accuracy")
        for card in members:
            clip_frames = _round_up(frames, card.frame_multiple)
            batch = max_batch(card, clip_frames, gpu_gb)
            if batch >= MIN_BATCH:
                return card, clip_frames, batch
    card = min(cards, key=lambda c: static_memory_gb(c) + clip_memory_gb(c, frames))
    clip_frames = _round_up(frames, card.frame_multiple)
    return card, clip_frames, max_batch(card, clip_frames, gpu_gb)


def _reason(card: ModelCard, cards: list[ModelCard], priority: Priority, labeled: int) -> str:
    preferred = FAMILY_ORDER[priority][0]
    reason = FAMILY_REASON.get(card.family, card.use_if)
    if card.family != preferred:
        reason += f" (no {FAMILY_TITLE[preferred]} model, the {priority} choice, fits)"
    larger = [c.name for c in cards if c.family == card.family and c.params_m > card.params_m]
    if larger and labeled < LARGE_MODEL_VIDEOS and priority == "accuracy":
        reason += (
            f"; larger models ({', '.join(larger)}) need more than {LARGE_MODEL_VIDEOS} labeled "
            "videos or more memory"
        )
    return f"{reason}. {card.name}: {card.use_if}."


def _scarcity_note(card: ModelCard, labeled: int, pretrain_first: bool) -> str:
    if pretrain_first:
        return (
            f"{labeled} labeled videos is little: pretrain VideoMAE on your unlabeled videos "
            "first (motionfit pretrain), then fine-tune from it (commands below)"
        )
    return (
        f"{labeled} labeled videos is little for fine-tuning {card.name}: expect overfitting; "
        "for accuracy, pretrain VideoMAE on unlabeled videos (motionfit pretrain) and train "
        "with --init-from (motionfit recommend --priority accuracy)"
    )


def _recipe_config(card: ModelCard) -> Config | None:
    """The card's recipe, or ``None`` when it has none or it is not shipped."""
    if not card.recipe:
        return None
    try:
        return load_config(card.recipe)
    except ConfigError:
        return None


def _commands(
    card: ModelCard,
    recipe_config: Config | None,
    frames: int,
    batch: int,
    accumulate: int,
    data: str,
    pretrain_first: bool,
) -> tuple[str, ...]:
    overrides = []
    if recipe_config is None or recipe_config.model.name != card.name:
        overrides.append(f"model.name={card.name}")
    if recipe_config is None or recipe_config.sampling.num_frames != frames:
        overrides.append(f"sampling.num_frames={frames}")
    if recipe_config is None or recipe_config.train.batch_size != batch:
        overrides.append(f"train.batch_size={batch}")
    if accumulate > 1:
        overrides.append(f"train.accumulate={accumulate}")
    config = f" --config {card.recipe}" if recipe_config is not None else ""
    sets = "".join(f" --set {item}" for item in overrides)
    run = f"runs/{card.name}"
    if not pretrain_first:
        return (f"motionfit train{config} --data {data} --out {run}{sets}",)
    pretrain_run = f"runs/{card.name}-pretrain"
    return (
        f"motionfit pretrain{config} --data UNLABELED_VIDEOS --out {pretrain_run}{sets}",
        f"motionfit train{config} --data {data} --init-from {pretrain_run} --out {run}{sets}",
    )


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
