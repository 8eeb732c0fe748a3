"""The planning rules: a data fingerprint and a machine -> the settings of a training run, each
with the reason it was chosen.

Rules, not a search (as nnU-Net's experiment planning): every choice is a few lines that a
reader can check against the fingerprint. The numbers they use were measured on real footage
(docs/real-footage.md) and are named here:

- a clip covers :data:`COVERAGE` of the median video, so it holds most of a trimmed action;
- videos shorter than the clip repeat their last frame (``pad``) rather than loop back;
- flipping follows the class names (:mod:`motionfit.plan.mirror`);
- evaluation (and validation: one protocol) averages :data:`EVAL_CLIPS` clips, fewer when a
  clip already covers the whole video;
- batch size and epochs give the model :data:`TARGET_STEPS` optimizer steps when the time
  budget allows (a CPU plan measures its step time; a GPU plan takes the model's recipe);
- a model that sees appearance trains with the debiasing augmentations (the config resolves
  them from the model), a motion-only one without;
- few labeled videos per class: a frozen backbone with a probe, or LoRA (``recommend``'s rules).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from motionfit.config import Config, load_config
from motionfit.data.augment import registered
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.recommend import (
    LORA_VIDEOS_PER_CLASS,
    PROBE_VIDEOS_PER_CLASS,
    Recommendation,
    recommend,
)
from motionfit.models.registry import get_spec
from motionfit.plan.fingerprint import DataFingerprint
from motionfit.plan.machine import Machine
from motionfit.plan.mirror import mirror_plan

EpochTimer = Callable[[Config, int, int], float]

COVERAGE = 0.6  # share of the median video one clip spans
CPU_MODEL = "motioncnn_tiny"  # the CPU path: a motion CNN from scratch
CPU_CROP = 64  # px: enough for hands and bodies at 2-4 px per motion step, cheap on a CPU
CPU_FRAMES = 16
MIN_FRAMES = 4  # below this a clip holds too little motion for any model
EVAL_CLIPS = 3  # clips averaged per video at evaluation (centres of 3 segments)
TARGET_STEPS = 400  # optimizer steps a from-scratch CPU model needs on a small set
MIN_EPOCHS, MAX_EPOCHS = 10, 200
MAX_BATCH = 16
MIN_BATCH_PER_EPOCH = 4  # an epoch of fewer steps makes validation dominate training time
VAL_VIDEOS_WARNING = 50  # below this, validation top-1 moves in steps of 2 points or more
TRAIN_SHARE = 0.7  # data.split_ratio's default: the rest validates
IMBALANCE = 3.0  # largest / smallest class above this: class-balanced loss weights
FPS_SPREAD = 1.25  # p90 / p10 frame rate above this: strides count time, not frames


@dataclass(frozen=True)
class Setting:
    """One planned config value and why (``key`` is ``section.field``)."""

    key: str
    value: Any
    why: str


@dataclass
class Plan:
    """A recipe to start from and the settings on top of it, each explained."""

    recipe: str
    settings: list[Setting] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any, why: str) -> None:
        """Add (or replace) the setting of ``key``."""
        self.settings = [s for s in self.settings if s.key != key]
        self.settings.append(Setting(key, value, why))

    def value(self, key: str) -> Any:
        """The planned value of ``key`` (KeyError if the plan leaves it to the recipe)."""
        for setting in self.settings:
            if setting.key == key:
                return setting.value
        raise KeyError(key)

    def overrides(self) -> list[str]:
        """The settings as ``--set`` items (``section.field=value``)."""
        return [f"{s.key}={_flow(s.value)}" for s in self.settings]


def make_plan(
    data: DataFingerprint,
    machine: Machine,
    *,
    source: str,
    hours: float | None = None,
    model: str | None = None,
    epoch_timer: EpochTimer | None = None,
) -> Plan:
    """The plan for ``data`` on ``machine`` within ``hours`` (None: no time limit given).

    ``epoch_timer(config, steps_per_epoch, val_videos)`` measures an epoch's seconds of a
    planned config on this machine (a CPU plan; without it the length follows the step target
    alone)."""
    rec = None if model or machine.gpu_memory_gb is None else _recommendation(data, machine)
    name = model or (rec.model if rec is not None else CPU_MODEL)
    spec = get_spec(name)
    plan = Plan(recipe=spec.recipe or "demo")
    plan.set("data.source", source, "the data this plan was read from")
    _model_settings(plan, data, machine, name, model is not None)
    if rec is not None:
        _memory_settings(plan, rec, machine)
    _clip_settings(plan, data, machine)
    _flip_settings(plan, data)
    _balance_settings(plan, data)
    _evaluation_settings(plan, data)
    timer = epoch_timer if machine.gpu_memory_gb is None else None
    _budget_settings(plan, data, hours, timer)
    if data.unreadable:
        plan.notes.append(
            f"{len(data.unreadable)} of {data.videos} videos cannot be read (e.g. "
            f"{data.unreadable[0][0]}: {data.unreadable[0][1]}); training skips them"
        )
    return plan


# ---------------------------------------------------------------------------------------------
# model


def _recommendation(data: DataFingerprint, machine: Machine) -> Recommendation:
    """``recommend``'s choice for this much data on the machine's GPUs."""
    assert machine.gpu_memory_gb is not None
    return recommend(
        data.readable,
        CPU_FRAMES,
        machine.gpu_memory_gb,
        "accuracy",
        classes=len(data.classes),
        gpus=machine.gpus,
    )


def _memory_settings(plan: Plan, rec: Recommendation, machine: Machine) -> None:
    """FSDP and activation checkpointing where ``rec`` needs them to fit the GPUs."""
    if rec.fsdp:
        why = f"{rec.model} fits {rec.gpus} GPUs of {machine.gpu_memory_gb:g} GB only sharded"
        plan.set("train.strategy", "fsdp", why)
        plan.set("train.devices", rec.gpus, "every GPU, for FSDP")
    if rec.grad_checkpointing:
        plan.set(
            "train.grad_checkpointing", True, f"{rec.model}'s activations do not fit otherwise"
        )


def _model_settings(
    plan: Plan, data: DataFingerprint, machine: Machine, name: str, chosen: bool
) -> None:
    spec = get_spec(name)
    per_class = data.readable / len(data.classes)
    if chosen:
        why = "the model asked for (--model)"
    elif machine.gpu_memory_gb is None:
        why = (
            "no GPU: a small 3-D CNN trained from scratch that sees motion (frame differences), "
            "which a CPU can train in minutes"
        )
    else:
        why = (
            f"recommend's choice for {data.readable} labeled videos on a "
            f"{machine.gpu_memory_gb:g} GB GPU"
        )
    plan.set("model.name", name, why)
    if spec.pretrained and machine.gpu_memory_gb is not None:
        plan.set("model.pretrained", spec.pretrained[0].removeprefix("hf:"), "its own weights")
        if per_class < PROBE_VIDEOS_PER_CLASS:
            faster = (
                "motionfit features, then motionfit train --features"
                if spec.capabilities.frozen_features
                else "a model made to be used frozen (--model vjepa2_l), whose features "
                "motionfit features caches once"
            )
            plan.set(
                "model.freeze",
                "backbone",
                f"~{per_class:.0f} labeled videos per class (< {PROBE_VIDEOS_PER_CLASS}): train "
                f"a probe on the frozen backbone; faster still: {faster}",
            )
        elif per_class < LORA_VIDEOS_PER_CLASS:
            plan.set(
                "model.lora",
                {"rank": 16, "alpha": 32},
                f"~{per_class:.0f} labeled videos per class (< {LORA_VIDEOS_PER_CLASS}): "
                "low-rank adapters rather than every weight",
            )
    sight = (
        "on: the model sees appearance, so it must not learn the look of the training clips"
        if spec.sees_appearance
        else "off: the model sees only motion"
    )
    keys = ", ".join(f"augment.{name}" for name, a in registered().items() if a.model_decided())
    plan.notes.append(f"debiasing ({keys}) is {sight}")


# ---------------------------------------------------------------------------------------------
# clips


def _clip_settings(plan: Plan, data: DataFingerprint, machine: Machine) -> None:
    spec = get_spec(plan.value("model.name"))
    cpu = machine.gpu_memory_gb is None
    frames = CPU_FRAMES if cpu else spec.default_frames
    median = data.frames.median
    why = f"{'the CPU path' if cpu else spec.name}'s clip"
    if median < frames:  # a clip longer than most videos only repeats their frames
        why = (
            f"the median video has {median:.0f} frames, fewer than {why} of {frames}: "
            "a clip takes each frame once"
        )
        frames = max(MIN_FRAMES, math.ceil(median))
    multiple = spec.frame_multiple
    frames = max(multiple, math.ceil(frames / multiple) * multiple)
    stride = max(1, round(COVERAGE * median / max(1, frames - 1)))
    span = (frames - 1) * stride + 1
    fps = data.fps.median
    plan.set("sampling.num_frames", frames, why)
    plan.set(
        "sampling.stride",
        stride,
        f"a clip spans {span} frames = {span / fps:.2f} s at {fps:.3g} fps, "
        f"{span / median:.0%} of the median video ({median:.0f} frames, "
        f"{data.seconds.median:.2f} s); the target is {COVERAGE:.0%}",
    )
    if data.fps.high > FPS_SPREAD * data.fps.low:
        plan.set(
            "sampling.stride_fps",
            "auto",
            f"frame rates vary ({data.fps.text('fps', 1)}): strides count time at the training "
            "videos' median rate, so a clip spans the same seconds at any rate",
        )
    if data.frames.min < span:
        plan.set(
            "sampling.short_video",
            "pad",
            f"{'most' if median < span else 'some'} videos are shorter than a clip (shortest "
            f"{data.frames.min:.0f} frames): repeat the last frame rather than jump back to the "
            "first",
        )
    if cpu:
        crop = CPU_CROP
        plan.set("augment.crop_size", crop, f"{crop} px: the CPU path's input size")
    else:
        crop = spec.default_size
        plan.set("augment.crop_size", crop, f"{spec.name}'s input size")
    if data.short_side.median < crop:
        plan.notes.append(
            f"the median video is {data.short_side.median:.0f} px on its short side, below the "
            f"{crop} px crop: frames are upscaled"
        )


# ---------------------------------------------------------------------------------------------
# flips, balance, evaluation


def _flip_settings(plan: Plan, data: DataFingerprint) -> None:
    mirror = mirror_plan(data.classes)
    if not mirror.flip_safe:
        plan.set(
            "augment.hflip",
            0.0,
            f"{', '.join(mirror.unpaired)} mirror into no class of this data: a flipped clip "
            "would carry a wrong label",
        )
        plan.set("augment.flip_label_map", {}, "no flipping")
        return
    plan.set("augment.hflip", 0.5, "no class name is mirror-sensitive without its mirror pair")
    why = "mirror-image classes swap labels when a clip is flipped" if mirror.pairs else "none"
    plan.set("augment.flip_label_map", mirror.pairs, why)
    plan.set("augment.flip_label_map_unknown", "error", "the pairs are this data's own")


def _balance_settings(plan: Plan, data: DataFingerprint) -> None:
    if data.imbalance > IMBALANCE:
        plan.set(
            "train.class_weights",
            "balanced",
            f"the largest class has {data.imbalance:.1f}x the videos of the smallest",
        )


def _evaluation_settings(plan: Plan, data: DataFingerprint) -> None:
    span = (plan.value("sampling.num_frames") - 1) * plan.value("sampling.stride") + 1
    # one more clip for each span of the longer videos (90th percentile) past the first 1.25
    clips = min(EVAL_CLIPS, max(1, math.ceil(data.frames.high / span - 0.25)))
    where = (
        f"{clips} clips at the centres of {clips} equal parts of each video, softmax averaged"
        if clips > 1
        else "one clip, the centre one, spans almost every video"
    )
    plan.set(
        "eval.clips",
        clips,
        f"{where}; validation scores the same views, so the best checkpoint is picked by the "
        "score evaluate gives",
    )
    val_videos = round(data.readable * (1 - TRAIN_SHARE))
    if not data.grouped:
        plan.notes.append(
            "no video names a group (recording session, subject): validation is a random "
            "split, so clips of one session can sit on both sides and validation overstates "
            "accuracy on new sessions (74% validation against 42% on held-out sessions on a "
            "gesture set, docs/real-footage.md); give a list with a group column, or --val "
            "with other sessions"
        )
    if val_videos < VAL_VIDEOS_WARNING:
        plan.notes.append(
            f"the validation split holds ~{val_videos} videos: its top-1 moves in steps of "
            f"{1 / val_videos:.0%} and has a standard error of ~"
            f"{math.sqrt(0.25 / val_videos):.0%}; trust a separate test set (--test) more"
        )


# ---------------------------------------------------------------------------------------------
# batch and length


def _budget_settings(
    plan: Plan, data: DataFingerprint, hours: float | None, timer: EpochTimer | None
) -> None:
    train_videos = int(data.readable * TRAIN_SHARE)
    batch = min(MAX_BATCH, max(2, train_videos // MIN_BATCH_PER_EPOCH))
    batch = 2 ** int(math.log2(batch))
    steps_per_epoch = max(1, train_videos // batch)
    plan.set(
        "train.batch_size",
        batch,
        f"{train_videos} training videos: {steps_per_epoch} steps per epoch at this batch",
    )
    plan.set(
        "train.clean_train_videos",
        min(train_videos, 64, max(16, train_videos // 4)),
        "training videos scored each epoch for the overfitting gap",
    )
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    why = f"{epochs * steps_per_epoch} optimizer steps (target {TARGET_STEPS})"
    if timer is not None:
        config = resolve_model_defaults(load_config(plan.recipe, plan.overrides()))
        seconds = timer(config, steps_per_epoch, data.readable - train_videos)
        if hours is not None and epochs * seconds > hours * 3600:
            epochs = max(1, int(hours * 3600 / seconds))
            why = f"what fits {hours:g} h at the measured {seconds:.0f} s per epoch"
        else:
            why += f"; about {epochs * seconds / 60:.0f} min here at {seconds:.0f} s per epoch"
    elif hours is not None:
        why += " (the time budget is not checked: the plan is for a GPU this machine lacks)"
    plan.set("train.epochs", epochs, why)
    plan.set(
        "train.patience",
        max(10, epochs // 4),
        "stop when validation has not improved for a quarter of the epochs",
    )
    plan.set(
        "schedule.warmup_epochs",
        max(1, round(epochs * 0.05)),
        "5% of the epochs of linear warmup",
    )


def _flow(value: Any) -> str:
    """A value as ``--set`` text (YAML flow style)."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...")
