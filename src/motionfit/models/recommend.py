"""``motionfit recommend``: which model, size and recipe to start from, and why.

The advice encodes the reference results of each family: VideoMAE for the best accuracy, above
all with little labeled data; Video Swin for stable, easy fine-tuning with 32-frame clips; MViT
for compute efficiency at 16 frames; TimeSformer for a pure space-time transformer; R(2+1)D as
a CNN baseline. Memory figures are rules of thumb (estimates, easily off by +-50%):

- activations: ~0.012 GB per forward GFLOP of one clip, with bf16 mixed precision and no
  activation checkpointing (GFLOPs from the model cards, scaled linearly with clip length);
- weights, gradients and AdamW moments in fp32: 16 bytes per parameter, divided over the GPUs
  under FSDP (``train.strategy=fsdp`` shards all three);
- activation checkpointing (``train.grad_checkpointing``) keeps about a quarter of the
  activations (the blocks' inputs; each block's inside is recomputed in the backward pass);
- ~1 GB of CUDA context and workspace; plan to use 90% of the GPU.

When the chosen model does not fit :data:`MIN_BATCH` clips per GPU, the advice adds activation
checkpointing, then FSDP over the stated GPUs, then both, and says what each costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from motionfit.config import Config, load_config
from motionfit.errors import ConfigError, ModelError
from motionfit.models.cards import ModelCard, model_cards
from motionfit.models.family import PRIORITIES
from motionfit.models.registry import get_family, list_families

Priority = Literal["accuracy", "speed", "stability"]
Adaptation = Literal["probe", "lora", "full"]

ACTIVATION_GB_PER_GFLOP = 0.012
STATE_BYTES_PER_PARAM = 16
OVERHEAD_GB = 1.0
USABLE_FRACTION = 0.9
DEFAULT_BATCH = 8  # clips per optimizer step when the model has no recipe
MIN_BATCH = 2  # fewer clips per step make batch statistics and mixing meaningless
SCARCE_VIDEOS = 500  # below this, transformers fine-tuned from Kinetics overfit easily
LARGE_MODEL_VIDEOS = 10_000  # models above LARGE_MODEL_PARAMS_M need at least this much data
LARGE_MODEL_PARAMS_M = 100.0
PRETRAIN_RECIPE = "videomae_pretrain"  # the tube-masking recipe ``motionfit pretrain`` starts from
# Few labels per class: a frozen backbone with a probe beats fine-tuning it (V-JEPA 2 is
# evaluated that way); a few hundred: adapt it with LoRA; more: fine-tune everything.
PROBE_VIDEOS_PER_CLASS = 50
LORA_VIDEOS_PER_CLASS = 300
ASSUMED_CLASSES = 10  # classes assumed for the per-class thresholds when the count is not given
MIN_CLASSES = 2  # a classifier needs two classes at least
INFERENCE_STATE_BYTES_PER_PARAM = 4  # fp32 weights only: no gradients, no optimizer state
INFERENCE_ACTIVATION_FRACTION = 0.1  # no activations kept for a backward pass (rule of thumb)
CHECKPOINTED_ACTIVATION_FRACTION = 0.25  # block inputs only (rule of thumb)


@dataclass(frozen=True)
class MemoryFit:
    """How a model trains within the memory of each GPU.

    Attributes:
        batch: clips per GPU that fit (estimate; 0 = none).
        fsdp: shard weights, gradients and optimizer state over the GPUs (``train.strategy``).
        checkpointing: recompute activations in the backward pass (``train.grad_checkpointing``).
        memory_gb: estimated memory per GPU at ``batch``.
    """

    batch: int
    fsdp: bool = False
    checkpointing: bool = False
    memory_gb: float = 0.0

    def describe(self, gpus: int) -> str:
        """What the fit needs, in words (empty for plain data-parallel training)."""
        parts = []
        if self.fsdp:
            parts.append(f"FSDP over {gpus} GPUs (weights, gradients and AdamW state sharded)")
        if self.checkpointing:
            parts.append("activation checkpointing (~30% more compute)")
        return " and ".join(parts)


def family_order(priority: str) -> list[str]:
    """The families fine-tuned whole (not made to be used frozen), in the order their advice
    ranks them for ``priority`` (:data:`~motionfit.models.family.PRIORITIES`)."""
    tuned = [f for f in list_families() if not f.capabilities.frozen_features]
    return [f.name for f in sorted(tuned, key=lambda f: f.advice.rank[priority])]


def frozen_order() -> list[str]:
    """The families made to be used frozen (probes, LoRA), best features first."""
    frozen = [f for f in list_families() if f.capabilities.frozen_features]
    return [f.name for f in sorted(frozen, key=lambda f: f.advice.rank["accuracy"])]


@dataclass(frozen=True)
class Recommendation:
    """What to train first.

    Attributes:
        model: registered model name.
        family: its family.
        recipe: the recipe to start from (``None``: schema defaults plus ``model.name``).
        frames: clip length to train with.
        size: input size (the model's default; the command trains at it).
        batch_size: clips per step that fit (estimate).
        accumulate: gradient accumulation to reach the recipe's batch.
        memory_gb: estimated training memory at ``batch_size``.
        reason: why this family and size.
        notes: warnings (scarce data, clip length, memory).
        commands: ready command lines, in order.
        adaptation: what labeled data this small calls for: ``probe`` (frozen backbone, cached
            features), ``lora`` (low-rank adapters) or ``full`` fine-tuning.
        alternative: for ``probe``/``lora``, why and with which backbone (else empty).
        alternative_commands: the command lines of that alternative.
        fsdp: the model fits only sharded over ``gpus`` GPUs (``train.strategy=fsdp``).
        grad_checkpointing: the model fits only with activation checkpointing.
        gpus: the GPUs the advice is for.
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
    adaptation: Adaptation = "full"
    alternative: str = ""
    alternative_commands: tuple[str, ...] = ()
    fsdp: bool = False
    grad_checkpointing: bool = False
    gpus: int = 1


def clip_memory_gb(card: ModelCard, frames: int) -> float:
    """Estimated activation memory of one training clip (GB)."""
    return ACTIVATION_GB_PER_GFLOP * card.gflops * frames / card.frames


def static_memory_gb(card: ModelCard) -> float:
    """Estimated memory of weights, gradients, optimizer state and CUDA context (GB)."""
    return OVERHEAD_GB + card.params_m * 1e6 * STATE_BYTES_PER_PARAM / 1e9


def max_batch(card: ModelCard, frames: int, gpu_memory_gb: float) -> int:
    """The largest batch that fits in ``gpu_memory_gb`` by the rules of thumb (0 = none)."""
    return memory_fit(card, frames, gpu_memory_gb, gpus=1, escalate=False).batch


def memory_fit(
    card: ModelCard, frames: int, gpu_memory_gb: float, gpus: int = 1, escalate: bool = True
) -> MemoryFit:
    """The cheapest way ``card`` trains ``frames``-frame clips on ``gpus`` GPUs of
    ``gpu_memory_gb`` with :data:`MIN_BATCH` clips per GPU: plain, then (``escalate``) with
    activation checkpointing (where the family has it), FSDP (more than one GPU), both. The
    last tried is returned when none fits."""
    checkpointable = get_family(card.family).capabilities.grad_checkpointing
    options = [(False, False)]
    if escalate:
        options += [(False, True)] if checkpointable else []
        options += [(True, False), (True, True)] if gpus > 1 else []
    fit = MemoryFit(0)
    for fsdp, checkpointing in options:
        static = OVERHEAD_GB + card.params_m * 1e6 * STATE_BYTES_PER_PARAM / 1e9 / (
            gpus if fsdp else 1
        )
        clip = clip_memory_gb(card, frames) * (
            CHECKPOINTED_ACTIVATION_FRACTION if checkpointing else 1.0
        )
        batch = max(0, math.floor((gpu_memory_gb * USABLE_FRACTION - static) / clip))
        fit = MemoryFit(batch, fsdp, checkpointing, static + max(batch, 1) * clip)
        if batch >= MIN_BATCH:
            break
    return fit


def recommend(
    labeled_videos: int,
    frames: int,
    gpu_memory_gb: float,
    priority: Priority,
    data: str = "DATA",
    cards: list[ModelCard] | None = None,
    classes: int | None = None,
    gpus: int = 1,
) -> Recommendation:
    """Pick a model for ``labeled_videos`` labeled clips at ``frames`` frames on ``gpus`` GPUs
    with ``gpu_memory_gb`` GB each, favouring ``priority``; ``data`` goes into the train
    command. A model that fits only with activation checkpointing or FSDP (see
    :func:`memory_fit`) gets them in its command, with a note.

    With few labeled videos per class (``labeled_videos / classes``; without ``classes``,
    :data:`ASSUMED_CLASSES` classes are assumed and the advice says so) it also proposes a
    frozen V-JEPA 2 / VideoPrism backbone with a probe on cached features, or LoRA, whichever
    fits. ``classes`` must be at least 2 and at most ``labeled_videos``."""
    if priority not in PRIORITIES:
        raise ModelError(f"priority must be one of {', '.join(PRIORITIES)}, got '{priority}'")
    if labeled_videos < 1 or frames < 1 or gpu_memory_gb <= 0 or gpus < 1:
        raise ModelError("labeled videos, frames, GPU memory and GPUs must be positive")
    if classes is not None and not MIN_CLASSES <= classes <= labeled_videos:
        raise ModelError(
            f"classes must be between {MIN_CLASSES} and the number of labeled videos "
            f"({labeled_videos}), got {classes}"
        )
    all_cards = [c for c in (cards if cards is not None else model_cards()) if not c.tiny]
    frozen_families = frozen_order()
    frozen = [c for c in all_cards if c.family in frozen_families]
    candidates = [c for c in all_cards if c.family not in frozen_families]
    if not candidates:
        raise ModelError("no full-size model is registered")
    # fine-tuning beats random init: models without weights only when none with weights exists
    candidates = [c for c in candidates if c.pretrained] or candidates
    card, clip_frames, fit = _choose(
        candidates, labeled_videos, frames, gpu_memory_gb, priority, gpus
    )
    batch = fit.batch
    notes = []
    if fit.fsdp or fit.checkpointing:
        plain = static_memory_gb(card) + MIN_BATCH * clip_memory_gb(card, clip_frames)
        notes.append(
            f"{card.name} needs ~{plain:.0f} GB per GPU for {MIN_BATCH} clips of {clip_frames} "
            f"frames as it is; with {fit.describe(gpus)} ~{fit.memory_gb:.0f} GB at batch "
            f"{batch} per GPU"
        )
    if batch < MIN_BATCH:
        notes.append(
            f"{card.name} does not fit {MIN_BATCH} clips in {gpu_memory_gb:g} GB even by the "
            "estimate; lower augment.crop_size or sampling.num_frames, or use a larger GPU"
        )
        batch = max(batch, 1)
    if clip_frames != card.frames and get_family(card.family).capabilities.position_tables:
        notes.append(
            f"{card.name}'s reference clip is {card.frames} frames; training at {clip_frames} "
            "adapts its position tables (expect to need more epochs)"
        )
    pretrain_first = card.family == "videomae" and labeled_videos < SCARCE_VIDEOS
    if labeled_videos < SCARCE_VIDEOS:
        notes.append(_scarcity_note(card, labeled_videos, pretrain_first))
    recipe = _recipe_config(card)
    target = recipe.train.batch_size if recipe is not None else DEFAULT_BATCH
    accumulate = max(1, math.ceil(target / (batch * gpus)))
    batch = min(batch, target)
    memory = memory_fit_at(card, clip_frames, fit, gpus, batch)
    per_class = labeled_videos / (classes if classes is not None else ASSUMED_CLASSES)
    adaptation, alternative, alt_commands = _small_data_plan(
        frozen, per_class, gpu_memory_gb, data, assumed=classes is None
    )
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
        commands=_commands(
            card, recipe, clip_frames, batch, accumulate, data, pretrain_first, fit, gpus
        ),
        adaptation=adaptation,
        alternative=alternative,
        alternative_commands=alt_commands,
        fsdp=fit.fsdp,
        grad_checkpointing=fit.checkpointing,
        gpus=gpus,
    )


def memory_fit_at(card: ModelCard, frames: int, fit: MemoryFit, gpus: int, batch: int) -> float:
    """Estimated memory per GPU of ``card`` trained as ``fit`` says at ``batch`` clips."""
    static = OVERHEAD_GB + card.params_m * 1e6 * STATE_BYTES_PER_PARAM / 1e9 / (
        gpus if fit.fsdp else 1
    )
    clip = clip_memory_gb(card, frames) * (
        CHECKPOINTED_ACTIVATION_FRACTION if fit.checkpointing else 1.0
    )
    return static + batch * clip


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
    if rec.alternative:
        lines.append(f"Or ({rec.adaptation}): {rec.alternative}")
        lines += [f"  {command}" for command in rec.alternative_commands]
    return "\n".join(lines)


def _small_data_plan(
    cards: list[ModelCard], per_class: float, gpu_gb: float, data: str, assumed: bool = False
) -> tuple[Adaptation, str, tuple[str, ...]]:
    """``probe`` below :data:`PROBE_VIDEOS_PER_CLASS` labeled videos per class, ``lora`` below
    :data:`LORA_VIDEOS_PER_CLASS`, else ``full``; the probe/LoRA backbone is the largest frozen
    family card (V-JEPA 2 first) whose feature extraction (fp32 weights, one clip without
    stored activations) or LoRA training (fp32 weights, :data:`MIN_BATCH` clips of training
    activations) fits ``gpu_gb``. ``assumed``: ``per_class`` comes from
    :data:`ASSUMED_CLASSES`, not a given number of classes (the advice says so)."""
    if per_class >= LORA_VIDEOS_PER_CLASS or not cards:
        return "full", "", ()
    probe = per_class < PROBE_VIDEOS_PER_CLASS
    order = {family: i for i, family in enumerate(frozen_order())}
    for card in sorted(cards, key=lambda c: (order[c.family], -c.params_m)):
        weights = OVERHEAD_GB + card.params_m * 1e6 * INFERENCE_STATE_BYTES_PER_PARAM / 1e9
        clip = clip_memory_gb(card, card.frames)
        activations = clip * INFERENCE_ACTIVATION_FRACTION if probe else MIN_BATCH * clip
        if weights + activations <= gpu_gb * USABLE_FRACTION:
            break
    else:
        return "full", "", ()
    config = f" --config {card.recipe}" if card.recipe else ""
    videos = f"~{per_class:.0f} labeled videos per class" + (
        f" (if there are {ASSUMED_CLASSES} classes; give --classes)" if assumed else ""
    )
    if probe:
        cache = f"features/{card.name}"
        return (
            "probe",
            (
                f"{videos} is too little to fine-tune; keep "
                f"{card.name} frozen and train a probe on its cached features (seconds per sweep "
                "point)"
            ),
            (
                f"motionfit features {card.name} --data {data} --out {cache}",
                f"motionfit train --features {cache} --out runs/{card.name}-probe",
            ),
        )
    recipe = _recipe_config(card)
    fits = math.floor((gpu_gb * USABLE_FRACTION - weights) / clip)
    batch = min(fits, recipe.train.batch_size if recipe is not None else DEFAULT_BATCH)
    sets = _set_flags(_overrides(card, recipe, card.frames, batch, 1))
    return (
        "lora",
        (
            f"{videos}: adapt {card.name} with LoRA (few "
            "trainable weights, merged on export) rather than fine-tuning all of it"
        ),
        (
            f"motionfit train{config} --data {data} --out runs/{card.name}-lora{sets} "
            "--set 'model.lora={rank: 16, alpha: 32}'",
        ),
    )


def _choose(
    cards: list[ModelCard],
    labeled: int,
    frames: int,
    gpu_gb: float,
    priority: Priority,
    gpus: int,
) -> tuple[ModelCard, int, MemoryFit]:
    """The first family in priority order with a model that fits (with checkpointing or FSDP
    if need be); in it the largest model (accuracy) or the cheapest (speed: fewest GFLOPs;
    stability: fewest parameters). Falls back to the smallest model overall."""
    for family in family_order(priority):
        members = [c for c in cards if c.family == family]
        if labeled < LARGE_MODEL_VIDEOS:
            members = [c for c in members if c.params_m <= LARGE_MODEL_PARAMS_M]
        if priority == "accuracy":
            members.sort(key=lambda c: (c.params_m, c.gflops), reverse=True)
        elif priority == "speed":
            members.sort(key=lambda c: (c.gflops, c.params_m))
        else:
            members.sort(key=lambda c: (c.params_m, c.gflops))
        for card in members:
            clip_frames = _round_up(frames, card.frame_multiple)
            fit = memory_fit(card, clip_frames, gpu_gb, gpus)
            if fit.batch >= MIN_BATCH:
                return card, clip_frames, fit
    card = min(cards, key=lambda c: static_memory_gb(c) + clip_memory_gb(c, frames))
    clip_frames = _round_up(frames, card.frame_multiple)
    return card, clip_frames, memory_fit(card, clip_frames, gpu_gb, gpus)


def _reason(card: ModelCard, cards: list[ModelCard], priority: Priority, labeled: int) -> str:
    preferred = family_order(priority)[0]
    reason = get_family(card.family).advice.reason
    if card.family != preferred:
        reason += f" (no {get_family(preferred).advice.title} model, the {priority} choice, fits)"
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
    fit: MemoryFit,
    gpus: int,
) -> tuple[str, ...]:
    """The command lines: the recipe with exactly the overrides that make it train ``card`` at
    its stated frames and size, from its own weights, at the batch that fits (with FSDP over
    ``gpus`` devices and activation checkpointing where ``fit`` needs them)."""
    sets = _overrides(card, recipe_config, frames, batch, accumulate)
    if fit.fsdp:
        sets += ["train.strategy=fsdp", f"train.devices={gpus}"]
    if fit.checkpointing:
        sets.append("train.grad_checkpointing=true")
    config = f" --config {card.recipe}" if recipe_config is not None else ""
    run = f"runs/{card.name}"
    if not pretrain_first:
        return (f"motionfit train{config} --data {data} --out {run}{_set_flags(sets)}",)
    pretrain_run = f"runs/{card.name}-pretrain"
    pretrain_sets = _overrides(card, load_config(PRETRAIN_RECIPE), frames, batch, accumulate)
    pretrain_sets = [item for item in pretrain_sets if not item.startswith("model.pretrained=")]
    return (
        f"motionfit pretrain --config {PRETRAIN_RECIPE} --data UNLABELED_VIDEOS "
        f"--out {pretrain_run}{_set_flags(pretrain_sets)}",
        f"motionfit train{config} --data {data} --init-from {pretrain_run} "
        f"--out {run}{_set_flags(sets)}",
    )


def _overrides(
    card: ModelCard, recipe: Config | None, frames: int, batch: int, accumulate: int
) -> list[str]:
    """``section.field=value`` items turning ``recipe`` (or the defaults) into this plan."""
    base = recipe if recipe is not None else Config()
    items = []
    if base.model.name != card.name:
        items.append(f"model.name={card.name}")
        weights = card.pretrained[0] if card.pretrained else "null"
        if base.model.pretrained is not None or card.pretrained:
            items.append(f"model.pretrained={weights}")
    if base.sampling.num_frames != frames:
        items.append(f"sampling.num_frames={frames}")
    if base.augment.crop_size != card.size:
        items.append(f"augment.crop_size={card.size}")
    if base.train.batch_size != batch:
        items.append(f"train.batch_size={batch}")
    if accumulate > 1:
        items.append(f"train.accumulate={accumulate}")
    return items


def _set_flags(items: list[str]) -> str:
    return "".join(f" --set {item}" for item in items)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
