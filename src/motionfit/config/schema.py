"""The experiment configuration schema: one pydantic model per section, every knob with a type,
a default and a one-line description.

The schema is data only: it imports nothing of motionfit above :mod:`motionfit.errors`, so
loading and validating a recipe never imports torch. Names that belong to other layers (dataset
formats, decoders, model names) are checked where they are used, and the values a model decides
(``augment.mean``/``std``, the appearance debiasing; see
:func:`motionfit.models.data_config.resolve_model_defaults`) are filled in when a run is put
together; left unset they are ``None`` (mean/std) or the model's to decide (debiasing).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from motionfit.errors import ConfigError

if TYPE_CHECKING:
    from motionfit.data.augment import Augmentation

LOGGED_METRICS = (
    "val/top1",
    "val/top5",
    "val/loss",
    "train/loss",
    "train/acc",
    "clean_train/top1",
    "val/map",  # multi-label runs (data.multi_label): mAP macro, micro, clean-train macro
    "val/map_micro",
    "clean_train/map",
)
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


class SectionError(ValueError):
    """An augmentation section's value is invalid: ``key`` below ``augment`` and pydantic's
    ``error`` (``validate_config`` names the whole key)."""

    def __init__(self, key: str, error: Any) -> None:
        super().__init__(error["msg"])
        self.key = key
        self.error = error


def _augmentations() -> dict[str, type[Augmentation]]:
    """The registered augmentations. Imported here, not above: the registry and its built-in
    augmentations import no torch (tested), and user augmentations register into it."""
    from motionfit.data.augment import registered

    return registered()


_DEPRECATION_NOTED: set[str] = set()


def nest_augment_aliases(augment: dict[str, Any]) -> dict[str, Any]:
    """An ``augment`` mapping with the old flat keys (``grayscale: 0.2``, ``mix_prob: 1``)
    moved into their sections (``grayscale: {p: 0.2}``, ``mix: {p: 1}``), one FutureWarning
    per key naming the new one."""
    from motionfit.data.augment import aliases

    table = aliases()
    out = dict(augment)
    for key in [k for k in augment if k in table]:
        name, field = table[key]
        value = out.pop(key)
        if key == name and isinstance(value, dict | BaseModel):
            out[key] = value  # a section already
            continue
        section = out.get(name, {})
        section = section.model_dump() if isinstance(section, BaseModel) else dict(section)
        section.setdefault(field, value)
        out[name] = section
        if key not in _DEPRECATION_NOTED:  # once per key and process, however often it loads
            _DEPRECATION_NOTED.add(key)
            warnings.warn(
                f"config key 'augment.{key}' is deprecated; write augment.{name}.{field}",
                FutureWarning,
                stacklevel=2,
            )
    return out


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
    multi_label: bool = Field(
        default=False,
        description="Several classes per clip (sigmoid, mAP); set by train when a list row "
        "names several ('a;b').",
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
    """Clip size, crop, flip, normalization, switches, and one section per augmentation.

    Each registered augmentation (:mod:`motionfit.data.augment`) has its section
    ``augment.NAME``, validated by its own settings model; old flat keys load as aliases."""

    model_config = ConfigDict(
        extra="allow", validate_assignment=True, allow_inf_nan=False, frozen=False
    )

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
    mean: tuple[float, float, float] | None = Field(
        default=None,
        description="Normalization mean; unset or null = the model's own.",
    )
    std: tuple[float, float, float] | None = Field(
        default=None,
        description="Normalization std; unset or null = the model's own.",
    )
    strict: bool = Field(
        default=False, description="Guarded augmentations are errors, not warnings."
    )

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

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_keys(cls, data: Any) -> Any:
        """Old flat keys (``grayscale: 0.2``, ``mix_prob: 1``) -> their sections, with a note."""
        return nest_augment_aliases(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _augmentation_sections(self) -> AugmentConfig:
        """Every registered augmentation's section, validated (defaults where absent); an
        unknown section is an error naming the known ones."""
        given = dict(self.__pydantic_extra__ or {})
        known = _augmentations()
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(
                f"unknown augmentation or field '{unknown[0]}' (augmentations: "
                f"{', '.join(known)}; a package's own registers through "
                "motionfit.data.augment.register or its entry point)"
            )
        sections = {}
        for name, augmentation in known.items():
            value = given.get(name, {})
            try:
                sections[name] = augmentation.settings_model.model_validate(
                    value.model_dump() if isinstance(value, BaseModel) else value
                )
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(part) for part in err["loc"])
                raise SectionError(f"{name}.{where}" if where else name, err) from None
        self.__pydantic_extra__ = sections
        return self

    def settings(self, name: str) -> Any:
        """The validated section of the augmentation ``name`` (``augment.NAME``)."""
        extra = self.__pydantic_extra__ or {}
        if name not in extra:
            raise ConfigError(f"config key 'augment.{name}': no such augmentation")
        return extra[name]

    def resolved_short_side(self) -> int:
        """The short side frames are resized to (explicit or crop_size * 8/7)."""
        return self.short_side or round(self.crop_size * 8 / 7)

    def normalization(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """``(mean, std)``; a ConfigError while either is unset (a run fills them from the
        model: :func:`motionfit.models.data_config.resolve_model_defaults`)."""
        if self.mean is None or self.std is None:
            raise ConfigError(
                "config keys 'augment.mean' and 'augment.std' are unset; set them, or resolve the "
                "config for its model (motionfit.models.resolve_model_defaults), which takes the "
                "model's"
            )
        return self.mean, self.std


class LoraSettings(_Section):
    """Low-rank adapters (PEFT) on the linear or convolution layers of a backbone."""

    rank: int = Field(default=8, ge=1, description="LoRA rank r.")
    alpha: float = Field(
        default=16.0, gt=0.0, description="LoRA alpha (update scaled by alpha / rank)."
    )
    targets: list[str] | str = Field(
        default_factory=list,
        description="Modules to adapt, as PEFT's target_modules reads them (name suffixes, or "
        "one regular expression matched against whole names); empty = what the model's family "
        "declares (the attention projections of a transformer, the convolutions of a CNN).",
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
        default="auto",
        description="Lightning strategy (auto = ddp on >1 device; fsdp shards parameters, "
        "gradients and optimizer state per model block, for models too big for DDP).",
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
        description="Recompute activations in backward (VideoMAE, TimeSformer; with "
        "strategy=fsdp every family's blocks): less memory.",
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
        return one_of(value, ACCELERATORS)

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

    def to_yaml(self) -> str:
        """The fully resolved config as YAML (tuples as lists, sections in schema order)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def one_of(value: str, names: Sequence[str]) -> str:
    """``value`` if it is one of ``names``; a ValueError listing them otherwise."""
    if value not in names:
        raise ValueError(f"must be one of {', '.join(names)}")
    return value
