"""The experiment configuration: one pydantic schema, YAML in and out, ``--set`` overrides.

Every knob of every command lives here with a type, a default and a one-line description.
Recipes (``motionfit/recipes/*.yaml``) are partial configs; a config file may name another
recipe or file under ``extends:`` and override only what differs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from motionfit.atomic import atomic_write_text
from motionfit.errors import ConfigError

# train.monitor: what the tasks log (classification: every key; pretraining: the losses)
LOGGED_METRICS = ("val/top1", "val/top5", "val/loss", "train/loss", "train/acc", "clean_train/top1")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = (
    "auto",
    "single_device",
    "ddp",
    "ddp_spawn",
    "ddp_fork",
    "ddp_notebook",
    "ddp_find_unused_parameters_true",
    "ddp_find_unused_parameters_false",
    "fsdp",
    "deepspeed",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_3",
)


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated,
    numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(_Section):
    """Where the videos are and how they are read."""

    source: str | None = Field(
        default=None,
        description="Training data: class-per-folder dir, list/CSV file, UCF101/HMDB51 split "
        "file, or a dir of frame folders.",
    )
    val: str | None = Field(
        default=None,
        description="Validation data; unset = a stratified, group-aware split of source.",
    )
    test: str | None = Field(
        default=None, description="Test data, scored once at the end of training."
    )
    format: str = Field(
        default="auto", description="How to read source/val/test; auto guesses from the path."
    )
    video_root: str | None = Field(
        default=None,
        description="Folder that list/split-file paths are relative to (default: its dir).",
    )
    labels: str | None = Field(
        default=None, description="File with one class name per line fixing the class order."
    )
    split_ratio: float = Field(
        default=0.7,
        gt=0.0,
        lt=1.0,
        description="Fraction of source kept for training when val is unset.",
    )
    split_seed: int = Field(default=0, description="Seed of the train/val split.")
    num_workers: int = Field(default=2, ge=0, description="DataLoader worker processes.")
    decoder: str = Field(
        default="pyav",
        description="Video decoding backend; auto = torchcodec when it works, else PyAV.",
    )
    bad_files: Literal["skip", "error"] = Field(
        default="skip", description="Unreadable video: skip (count, report, draw another) or error."
    )
    max_bad_fraction: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Stop with an error above this fraction of bad files.",
    )
    repeated_augmentation: int = Field(
        default=1,
        ge=1,
        description="Augmented clips drawn from one decoded window (repeated aug.).",
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from motionfit.data.formats import format_names  # here: motionfit.data imports config

        return _one_of(value, format_names())

    @field_validator("decoder")
    @classmethod
    def _known_decoder(cls, value: str) -> str:
        from motionfit.data.decode import BACKENDS  # here: motionfit.data imports config

        return _one_of(value, BACKENDS)


class SamplingConfig(_Section):
    """Temporal sampling: which frames make a clip."""

    num_frames: int = Field(default=16, ge=1, description="Frames per clip (the model's T).")
    stride: int = Field(
        default=4, ge=1, description="Frame stride at evaluation (and training default)."
    )
    train_strides: list[int] | None = Field(
        default=None,
        description="Strides drawn per training clip; null = {stride-1, stride, stride+1}.",
    )
    stride_seconds: float | None = Field(
        default=None, gt=0.0, description="Stride in seconds instead of frames (mixed frame rates)."
    )
    stride_fps: float | Literal["auto", "frames"] = Field(
        default="frames",
        description="Frame rate at which stride and train_strides count frames: a video at "
        "another rate gets strides scaled to cover the same time. frames = count frames at "
        "any rate; auto = the training videos' median rate, fixed when training starts (saved "
        "in the run's config).",
    )
    jitter_prob: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Probability a training clip gets temporal jitter."
    )
    jitter_max: int = Field(default=2, ge=0, description="Max frames dropped/duplicated by jitter.")
    short_video: Literal["loop", "pad"] = Field(
        default="loop",
        description="Video shorter than the clip span: loop it or repeat its last frame.",
    )
    frames_fps: float = Field(
        default=30.0,
        gt=0.0,
        description="Frame rate of videos stored as frame folders (images have none).",
    )

    @model_validator(mode="after")
    def _strides_positive(self) -> SamplingConfig:
        if self.train_strides is not None and (
            not self.train_strides or min(self.train_strides) < 1
        ):
            raise ValueError("train_strides must be a non-empty list of integers >= 1")
        return self

    @field_validator("stride_fps")
    @classmethod
    def _positive_fps(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not value > 0:
            raise ValueError("must be a frame rate > 0, 'auto' or 'frames'")
        return value

    def resolved_stride_seconds(self) -> float | None:
        """The stride in seconds: ``stride_seconds``, else ``stride / stride_fps`` once the
        frame rate is known (a number), else None (strides count frames at any rate)."""
        if self.stride_seconds is not None:
            return self.stride_seconds
        if isinstance(self.stride_fps, float):
            return self.stride / self.stride_fps
        return None

    def resolved_train_strides(self) -> list[int]:
        """The strides a training clip draws from (``train_strides`` or the default around
        ``stride``)."""
        if self.train_strides is not None:
            return sorted(set(self.train_strides))
        return sorted({max(1, self.stride - 1), self.stride, self.stride + 1})


class AugmentConfig(_Section):
    """Spatial augmentation, video-level mixing, and the switches that turn augmentation off."""

    enabled: bool = Field(
        default=True, description="Master switch: false = eval transforms for training."
    )
    temporal: bool = Field(
        default=True, description="Random start, stride and jitter when training."
    )
    spatial: bool = Field(default=True, description="Random crop, flip and colour when training.")
    crop_size: int = Field(default=224, ge=16, description="Square model input size in pixels.")
    short_side: int | None = Field(
        default=None, ge=16, description="Short side frames are resized to; null = crop_size * 8/7."
    )
    scale: tuple[float, float] = Field(
        default=(0.8, 1.0), description="RandomResizedCrop area range (guard warns below 0.5)."
    )
    ratio: tuple[float, float] = Field(
        default=(0.75, 4.0 / 3.0), description="RandomResizedCrop aspect-ratio range."
    )
    hflip: float = Field(default=0.5, ge=0.0, le=1.0, description="Horizontal flip probability.")
    flip_label_map: dict[str, str] = Field(
        default_factory=dict,
        description="Class pairs swapped when a clip is flipped (left: right); symmetric.",
    )
    flip_label_map_unknown: Literal["error", "skip"] = Field(
        default="error",
        description="A flip pair naming a class the data lacks: error (a map you wrote) or "
        "skip with a note (a recipe's own map).",
    )
    color_jitter: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Probability of colour jitter per clip."
    )
    color_jitter_strength: tuple[float, float, float, float] = Field(
        default=(0.4, 0.4, 0.4, 0.1), description="Brightness, contrast, saturation, hue of jitter."
    )
    grayscale: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Random grayscale probability."
    )
    mean: tuple[float, float, float] | None = Field(
        default=(0.45, 0.45, 0.45),
        description="Normalization mean; unset or null = the model's own.",
    )
    std: tuple[float, float, float] | None = Field(
        default=(0.225, 0.225, 0.225),
        description="Normalization std; unset or null = the model's own.",
    )
    rotation: float = Field(
        default=0.0, ge=0.0, description="Max rotation degrees (guarded: harmful)."
    )
    perspective: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Perspective distortion scale (guarded: harmful)."
    )
    elastic: float = Field(default=0.0, ge=0.0, description="Elastic alpha (guarded: harmful).")
    blur_sigma: float = Field(
        default=0.0, ge=0.0, description="Max Gaussian blur sigma (guarded above 1.5: heavy blur)."
    )
    random_erasing: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Random erasing probability (guarded: harmful)."
    )
    frame_cutmix: bool = Field(
        default=False, description="CutMix with a new box per frame (guarded: breaks motion)."
    )
    strict: bool = Field(
        default=False, description="Guarded augmentations are errors, not warnings."
    )
    mixup_alpha: float = Field(default=0.8, ge=0.0, description="Video MixUp Beta alpha (0 = off).")
    cutmix_alpha: float = Field(
        default=1.0, ge=0.0, description="Video CutMix Beta alpha (0 = off)."
    )
    mix_prob: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Probability a training batch is mixed."
    )
    mix_switch_prob: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Probability of CutMix rather than MixUp when both on.",
    )
    static_blend: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Probability a training clip gets a frame of its own video blended into "
        "every frame (Background Erasing, Wang et al. CVPR 2021); label unchanged.",
    )
    static_blend_strength: tuple[float, float] = Field(
        default=(0.2, 0.5), description="Range of the static frame's blend weight (0-1)."
    )
    still_mix: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Probability a training clip gets a still frame of another training video "
        "blended into every frame (StillMix, Li et al. ICCV 2023); label unchanged. Unset = "
        "0.5 for models that see appearance, 0 for the motion-only CNNs.",
    )
    still_mix_strength: tuple[float, float] = Field(
        default=(0.3, 0.6),
        description="Range of the other video's still frame's blend weight (0-1).",
    )
    foreground_paste: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Probability a training clip's moving region (from frame differences) is "
        "pasted onto another training video's frame (FAME, Ding et al. CVPR 2022). Unset = "
        "0.5 for models that see appearance, 0 for the motion-only CNNs.",
    )
    foreground_paste_strength: tuple[float, float] = Field(
        default=(0.3, 0.5),
        description="Range of the fraction of the frame kept as moving foreground.",
    )

    @field_validator("static_blend_strength", "still_mix_strength", "foreground_paste_strength")
    @classmethod
    def _unit_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("must be [low, high] with 0 <= low <= high <= 1")
        return value

    @field_validator("scale")
    @classmethod
    def _scale_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < value[0] <= value[1] <= 1.0:
            raise ValueError("must be [low, high] with 0 < low <= high <= 1")
        return value

    @field_validator("ratio")
    @classmethod
    def _ratio_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < value[0] <= value[1]:
            raise ValueError("must be [low, high] with 0 < low <= high")
        return value

    @field_validator("std")
    @classmethod
    def _std_positive(
        cls, value: tuple[float, float, float] | None
    ) -> tuple[float, float, float] | None:
        if value is not None and min(value) <= 0.0:
            raise ValueError("every channel's std must be > 0")
        return value

    @field_validator("color_jitter_strength")
    @classmethod
    def _jitter_strength(
        cls, value: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        if min(value) < 0.0 or value[3] > 0.5:
            raise ValueError("must be >= 0 (brightness, contrast, saturation) and hue in 0..0.5")
        return value

    def resolved_short_side(self) -> int:
        """The short side frames are resized to (explicit or crop_size * 8/7)."""
        return self.short_side or round(self.crop_size * 8 / 7)

    def normalization(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """``(mean, std)``; a ConfigError while either is unset (a :class:`Config` fills them
        from the model when it validates)."""
        if self.mean is None or self.std is None:
            raise ConfigError(
                "config keys 'augment.mean' and 'augment.std' are unset; set them or validate "
                "the whole config, which takes the model's"
            )
        return self.mean, self.std


class LoraSettings(_Section):
    """Low-rank adapters (PEFT) on the attention/MLP linears of a transformer backbone."""

    rank: int = Field(default=8, ge=1, description="LoRA rank r.")
    alpha: float = Field(
        default=16.0, gt=0.0, description="LoRA alpha (update scaled by alpha / rank)."
    )
    targets: list[str] = Field(
        default_factory=list,
        description="Linear layers to adapt (PEFT target_modules); empty = attention query/value.",
    )


class ModelConfig(_Section):
    """Which network, from which weights, with which head."""

    name: str = Field(
        default="swin3d_t", description="Registered model name (see `motionfit models`)."
    )
    pretrained: str | None = Field(
        default=None,
        description="Weights: torchvision enum (KINETICS400_V1), HF id/folder, .pt/.safetensors.",
    )
    dropout: float = Field(
        default=0.5, ge=0.0, lt=1.0, description="Dropout before the classifier."
    )
    hidden_dim: int = Field(
        default=0, ge=0, description="Width of an optional head hidden layer (0=none)."
    )
    drop_path: float = Field(default=0.1, ge=0.0, lt=1.0, description="Stochastic depth rate.")
    head: Literal["linear", "attentive"] | None = Field(
        default=None,
        description="Pooling before the classifier: linear (mean) or attentive (vjepa2_*, "
        "videoprism_*); unset = the model's default.",
    )
    freeze: str = Field(
        default="none",
        pattern=r"^(none|backbone|first_\d+)$",
        description="Frozen weights: none, backbone (train only the head) or first_N blocks.",
    )
    lora: LoraSettings | None = Field(
        default=None, description="LoRA adapters through PEFT (merged into the weights on export)."
    )


class OptimConfig(_Section):
    """Optimizer and its parameter groups."""

    name: Literal["adamw", "sgd"] = Field(default="adamw", description="Optimizer.")
    lr: float = Field(default=5e-4, gt=0.0, description="Peak learning rate (after warmup).")
    base_batch_size: int | None = Field(
        default=None, ge=1, description="If set, lr is scaled by global_batch / base_batch_size."
    )
    weight_decay: float = Field(default=0.05, ge=0.0, description="Decoupled weight decay.")
    betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas.")
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="SGD momentum.")
    layer_decay: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Layer-wise LR decay (1 = off; ~0.75 for ViTs)."
    )

    @field_validator("betas")
    @classmethod
    def _betas_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in value):
            raise ValueError("each beta must be in [0, 1)")
        return value


class ScheduleConfig(_Section):
    """Learning-rate schedule, stepped per optimizer step."""

    name: Literal["cosine", "step", "constant"] = Field(
        default="cosine", description="Decay after warmup."
    )
    warmup_epochs: float = Field(default=2.0, ge=0.0, description="Linear warmup length in epochs.")
    warmup_start_factor: float = Field(
        default=0.01, gt=0.0, le=1.0, description="LR at step 0 as a fraction of the peak."
    )
    min_lr_ratio: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Cosine floor as a fraction of the peak LR."
    )
    milestones: list[float] = Field(
        default_factory=list, description="Step schedule: epochs where LR is multiplied by gamma."
    )
    gamma: float = Field(default=0.1, gt=0.0, le=1.0, description="Step schedule decay factor.")

    @field_validator("milestones")
    @classmethod
    def _milestones_order(cls, value: list[float]) -> list[float]:
        if any(m < 0 for m in value) or value != sorted(value):
            raise ValueError("milestones must be epochs >= 0 in increasing order")
        return value


class TrainConfig(_Section):
    """The training loop."""

    epochs: int = Field(default=30, ge=1, description="Maximum epochs.")
    batch_size: int = Field(default=8, ge=1, description="Clips per device per step.")
    accumulate: int = Field(default=1, ge=1, description="Gradient accumulation steps.")
    grad_clip: float = Field(default=1.0, ge=0.0, description="Gradient norm clip (0 = off).")
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = Field(
        default="auto", description="auto = bf16-mixed on GPUs that support it, else 32."
    )
    label_smoothing: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Cross-entropy label smoothing."
    )
    class_weights: str = Field(
        default="none",
        description="Cross-entropy class weights: none, balanced (videos / (classes x class "
        "count)), or a file of 'class weight' lines.",
    )
    balanced_sampler: bool = Field(
        default=False,
        description="Draw training clips class-balanced (with replacement) each epoch.",
    )
    ema_decay: float = Field(default=0.0, ge=0.0, lt=1.0, description="EMA of weights (0 = off).")
    monitor: str = Field(
        default="val/top1", description="Metric for early stopping and best checkpoint."
    )
    patience: int = Field(
        default=10, ge=0, description="Epochs without improvement before stop (0=off)."
    )
    seed: int = Field(default=0, description="Global seed (data order, augmentation, init).")
    deterministic: bool = Field(
        default=False, description="Deterministic algorithms (bit-exact resume)."
    )
    accelerator: str = Field(default="auto", description="Lightning accelerator: auto, cpu, gpu.")
    devices: str = Field(
        default="auto", description="Devices per node: auto, N, or a list like '0,1'."
    )
    num_nodes: int = Field(default=1, ge=1, description="Nodes for multi-node DDP.")
    strategy: str = Field(
        default="auto", description="Lightning strategy (auto = ddp on >1 device)."
    )
    sync_batchnorm: bool = Field(
        default=False, description="Synchronize BatchNorm statistics across DDP processes."
    )
    clean_train_videos: int = Field(
        default=64, ge=0, description="Training videos scored with eval transforms each epoch."
    )
    checkpoint_every_n_steps: int = Field(
        default=0, ge=0, description="Also save `last` every N steps (0 = once per epoch)."
    )
    max_steps: int = Field(
        default=-1, description="Stop after this many optimizer steps (-1 = no cap)."
    )
    log_every_n_steps: int = Field(default=10, ge=1, description="Logging interval in steps.")
    compile: bool = Field(
        default=False, description="torch.compile the model (slow first step; then faster on GPUs)."
    )
    compile_backend: str = Field(
        default="inductor",
        description="torch.compile backend (inductor; aot_eager to check capture).",
    )
    channels_last: bool = Field(
        default=False, description="Channels-last 3-D memory for the CNN families (faster on GPUs)."
    )
    grad_checkpointing: bool = Field(
        default=False,
        description="Recompute activations in backward (VideoMAE, TimeSformer): less memory.",
    )

    @field_validator("monitor")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in LOGGED_METRICS:
            raise ValueError(f"must be a logged metric: {', '.join(LOGGED_METRICS)}")
        return value

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, value: str) -> str:
        return _one_of(value, ACCELERATORS)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"must be auto, ddp, fsdp, deepspeed or another of {STRATEGIES}")
        return value

    @field_validator("devices")
    @classmethod
    def _device_spec(cls, value: str) -> str:
        text = value.strip()
        ids = [part.strip() for part in text.split(",") if part.strip()] if "," in text else []
        count = re.fullmatch(r"auto|-1|[1-9]\d*", text)
        if not count and not (ids and all(part.isdigit() for part in ids)):
            raise ValueError("must be auto, -1 (all), a count N >= 1, or a list of ids like 0,1")
        return text

    @field_validator("max_steps")
    @classmethod
    def _steps_cap(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError("must be -1 (no cap) or >= 1 (0 steps would train nothing)")
        return value


class EvalConfig(_Section):
    """Validation during training and multi-view testing."""

    val_clips: int | None = Field(
        default=None,
        ge=1,
        description="Uniform clips per video during validation; unset = eval.clips, so the "
        "validation score that picks the best checkpoint is the one evaluate gives.",
    )
    val_crops: Literal[1, 3] | None = Field(
        default=None, description="Spatial crops per clip during validation; unset = eval.crops."
    )
    clips: int = Field(default=4, ge=1, description="Uniform clips per video at test time.")
    crops: Literal[1, 3] = Field(default=1, description="Spatial crops per clip at test time.")
    mode: Literal["uniform", "segments"] = Field(
        default="uniform", description="Test sampling: uniform clips, or TSN-style segments."
    )
    batch_size: int = Field(default=8, ge=1, description="Clips per batch at evaluation.")
    diagnose: bool = Field(
        default=False,
        description="Also score frozen, shuffled and reversed versions of every test view "
        "(motion-reliance diagnostics; see `motionfit evaluate --diagnose`).",
    )

    def validation_views(self) -> tuple[int, int]:
        """``(clips, crops)`` per video during validation: ``val_clips``/``val_crops``, each
        unset taking the test-time ``clips``/``crops``."""
        return self.val_clips or self.clips, self.val_crops or self.crops

    def validation_is_cheaper(self) -> bool:
        """True when validation scores fewer views than ``evaluate`` (the best checkpoint is
        then also scored the evaluate way at the end of training)."""
        return self.validation_views() != (self.clips, self.crops)


class OutputConfig(_Section):
    """What a run writes."""

    save_top_k: int = Field(
        default=1, ge=0, description="Best checkpoints kept by the monitored metric."
    )
    tensorboard: bool = Field(default=True, description="Write TensorBoard logs.")
    plots: bool = Field(default=True, description="Write curves.png after each epoch.")
    loggers: list[Literal["tensorboard", "csv", "wandb", "mlflow"]] = Field(
        default=["tensorboard"],
        description="Lightning experiment loggers (wandb, mlflow: pip install "
        "'motionfit[track]'); output.tensorboard=false drops tensorboard.",
    )
    project: str = Field(default="motionfit", description="W&B project and MLflow experiment name.")
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; null = a SQLite store, RUN_DIR/mlflow.db."
    )
    wandb_mode: Literal["online", "offline"] = Field(
        default="online", description="W&B online, or offline (RUN_DIR/wandb, `wandb sync` later)."
    )


class PretrainConfig(_Section):
    """Self-supervised masked video pretraining (VideoMAE)."""

    mask_ratio: float = Field(default=0.9, gt=0.0, lt=1.0, description="Fraction of tubes masked.")
    norm_pix_loss: bool = Field(
        default=True, description="Reconstruct per-patch normalized pixels."
    )
    decoder_depth: int | None = Field(
        default=None, ge=1, description="Decoder layers (null = the model family's default)."
    )
    preview_every: int = Field(
        default=1, ge=0, description="Write a reconstruction PNG every N epochs."
    )
    val_fraction: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="Videos held out for the validation reconstruction loss (0 = none; "
        "ignored when data.val is set).",
    )


class Config(BaseModel):
    """A whole experiment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    description: str = Field(default="", description="What this recipe is for (one line).")
    data: DataConfig = Field(default_factory=DataConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)

    @model_validator(mode="after")
    def _model_inputs(self) -> Config:
        """Unset ``augment.mean``/``augment.std`` take the model's own input spec, unset
        ``augment.still_mix``/``augment.foreground_paste`` the model's debiasing default."""
        from motionfit.models.data_config import resolve_data_config

        return resolve_data_config(self)

    def to_yaml(self) -> str:
        """The fully resolved config as YAML (tuples as lists, sections in schema order)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------------------------------------
# Recipes, files and overrides


def recipe_dir() -> Path:
    """The folder of the recipes shipped inside the package."""
    return Path(str(resources.files("motionfit") / "recipes"))


def list_recipes() -> dict[str, str]:
    """Recipe name -> its one-line description."""
    out = {}
    for path in sorted(recipe_dir().glob("*.yaml")):
        raw = _read_yaml(path)
        out[path.stem] = str(raw.get("description", ""))
    return out


def load_config(
    name_or_path: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Resolve a recipe name or YAML file (following ``extends:``), apply ``--set`` overrides
    (``section.field=value``) and validate. ``None`` starts from the schema defaults."""
    raw = {} if name_or_path is None else _resolve_raw(str(name_or_path), seen=())
    source = "" if name_or_path is None else str(name_or_path)
    _check_keys(raw, source)
    for item in overrides or []:
        raw = _mark_user_flip_map(apply_override(raw, item), apply_override({}, item))
    return validate_config(raw, source)


def validate_config(raw: dict[str, Any], source: str = "") -> Config:
    """Build a :class:`Config` from a plain dict; errors name the key and the source file."""
    _check_keys(raw, source)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        got_text = f" (got {got!r})" if not isinstance(got, dict) else ""
        message = err["msg"].removeprefix("Value error, ")  # our validators' own words
        raise ConfigError(f"{_prefix(source)}config key '{key}': {message}{got_text}") from exc


def apply_override(raw: dict[str, Any], item: str) -> dict[str, Any]:
    """Return a copy of ``raw`` with one ``section.field=value`` override applied.

    The value is parsed as YAML (``0.1``, ``true``, ``[1, 2]``, ``{left: right}``) and then
    validated against the field's type with the rest of the config.
    """
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form section.field=value")
    key, _, text = item.partition("=")
    path = key.strip().split(".")
    _check_path(path)
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{key}': cannot parse value {text!r}") from exc
    value = _coerce_scalar(path, text, value)
    out = _deep_copy(raw)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{key}': '{part}' is not a section")
    node[path[-1]] = value
    return out


def dump_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, config.to_yaml())


def field_keys() -> list[str]:
    """Every valid ``section.field`` key (for suggestions and documentation)."""
    keys: list[str] = []
    for section, info in Config.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(f"{section}.{name}" for name in annotation.model_fields)
        else:
            keys.append(section)
    return keys


# ---------------------------------------------------------------------------------------------
# helpers


def _one_of(value: str, names: Sequence[str]) -> str:
    """``value`` if it is one of ``names``; a ValueError listing them otherwise."""
    if value not in names:
        raise ValueError(f"must be one of {', '.join(names)}")
    return value


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections")
    return data


def _resolve_raw(name_or_path: str, seen: tuple[str, ...]) -> dict[str, Any]:
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} or path.exists()):
        path = recipe_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            names = list(list_recipes())
            close = difflib.get_close_matches(name_or_path, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (recipes: {', '.join(names)})"
            raise ConfigError(f"no recipe or config file named '{name_or_path}'{hint}")
    key = str(path.resolve())
    if key in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle")
    raw = _read_yaml(path)
    if not path.resolve().is_relative_to(recipe_dir().resolve()):
        raw = _mark_user_flip_map(raw, raw)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: config key 'extends' must be a recipe name or file")
    parent_ref = parent
    if not (recipe_dir() / f"{parent}.yaml").exists() and not Path(parent).is_absolute():
        parent_ref = str(path.parent / parent)
    base = _resolve_raw(parent_ref, (*seen, key))
    _check_keys(base, parent_ref)
    _check_keys(raw, str(path))
    return _deep_merge(base, raw)


def _mark_user_flip_map(raw: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A flip map the user wrote (in ``layer``: their file or a ``--set``) is strict: its
    unknown classes are errors unless the layer itself says ``flip_label_map_unknown``."""
    augment = layer.get("augment")
    if not isinstance(augment, dict) or "flip_label_map" not in augment:
        return raw
    if "flip_label_map_unknown" in augment:
        return raw
    out = _deep_copy(raw)
    out.setdefault("augment", {})["flip_label_map_unknown"] = "error"
    return out


def _check_keys(raw: dict[str, Any], source: str) -> None:
    for section, value in raw.items():
        _check_path([section], source)
        if isinstance(value, dict) and section in _sections():
            for field in value:
                _check_path([section, field], source)


def _sections() -> dict[str, type[BaseModel]]:
    out = {}
    for name, info in Config.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = info.annotation
    return out


def _check_path(path: list[str], source: str = "") -> None:
    sections = _sections()
    key = ".".join(path)
    valid = field_keys()
    if len(path) == 1 and (path[0] in sections or path[0] in Config.model_fields):
        return
    if len(path) == 2 and path[0] in sections and path[1] in sections[path[0]].model_fields:
        return
    candidates = valid + list(sections)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not close and len(path) == 2:
        close = [k for k in valid if k.endswith("." + path[1])][:1]
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"{_prefix(source)}unknown config key '{key}'{hint}")


def _field_annotation(path: list[str]) -> Any:
    section = _sections().get(path[0])
    if section is None or len(path) != 2:
        return None
    return section.model_fields[path[1]].annotation


def _coerce_scalar(path: list[str], text: str, value: Any) -> Any:
    """Keep the literal text for string fields (YAML would turn '2' or 'on' into int/bool)."""
    if value is not None and _field_annotation(path) in (str, str | None):
        return text.strip()
    return value


def _deep_copy(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in raw.items()}


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key in _sections():
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
