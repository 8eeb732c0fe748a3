"""The model card (``README.md``) of an exported run, written from the run itself.

Front matter as the HuggingFace Hub reads it (``library_name``, ``pipeline_tag``, ``tags``,
``base_model`` when the run started from a hub checkpoint; huggingface_hub's
``ModelCardData`` writes it), then: the model, the data (classes with their training videos
when ``class_balance.csv`` exists), the recipe, the results (best validation top-1 from
``metrics.csv``, the test metrics and motion-reliance diagnostics of ``eval/metrics.json``),
intended use, limitations, the preprocessing and a loading snippet. The numbers come from the
same files ``motionfit report`` reads (:func:`motionfit.report.summarize_run`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motionfit import __version__
from motionfit.calibration import run_temperature
from motionfit.config import Config
from motionfit.data.augment import registered
from motionfit.data.transforms import NATIVE_DECODE_MAX_RATIO
from motionfit.evaluation.diagnose import APPEARANCE_AGREEMENT, MOTION_MARGIN
from motionfit.models.registry import get_family, get_spec
from motionfit.run import LoadedRun
from motionfit.train.balance import CLASS_BALANCE_FILE

if TYPE_CHECKING:  # motionfit.report imports jinja2 and matplotlib: only a card needs it
    from motionfit.report import RunSummary

CARD_FILE = "README.md"
PLACEHOLDER = "path/to/this/folder"  # the loading snippets' model path
VIDEO_PLACEHOLDER = "video.mp4"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
DIAGNOSTIC_ROWS = {
    "frozen": "frozen (one frame repeated: no motion)",
    "shuffled": "shuffled frames (no time order)",
    "reversed": "reversed (motion backwards)",
}


@dataclass(frozen=True)
class TransformersExport:
    """What a transformers folder holds, for its card.

    Attributes:
        architecture: the ``*ForVideoClassification`` class that loads it.
        processor: the processor class of its processor config.
        input_name: the keyword the model takes its ``[B, T, C, H, W]`` clip by.
        processor_gaps: where the processor's resize, crop or normalization differs from the
            run's (one line each).
        flat_logits: the model returns ``[B, classes]`` (False: ``[B, 1, classes]``).
        placeholders: key prefixes of weights the class builds but classification never runs
            (not trained by motionfit).
    """

    architecture: str
    processor: str
    input_name: str
    processor_gaps: tuple[str, ...] = ()
    flat_logits: bool = True
    placeholders: tuple[str, ...] = ()

    @property
    def auto_processor(self) -> str:
        """The transformers Auto class that reads its processor config."""
        image = self.processor.endswith("ImageProcessor")
        return "AutoImageProcessor" if image else "AutoVideoProcessor"


def write_model_card(run: LoadedRun, out: Path, export: TransformersExport | None) -> Path:
    """Write ``out/README.md`` for ``run`` (``export``: the transformers folder it describes;
    None: a motionfit folder)."""
    from huggingface_hub import ModelCard

    path = out / CARD_FILE
    ModelCard(model_card_text(run, export)).save(path)
    return path


def model_card_text(run: LoadedRun, export: TransformersExport | None) -> str:
    """The card: YAML front matter and the Markdown sections."""
    from motionfit.report import summarize_run

    summary = summarize_run(run.paths.root)
    sections = [
        _title(run, export),
        _model_section(run, export),
        _data_section(run),
        _recipe_section(run.config),
        _results_section(summary),
        _intended_use_section(run),
        _limitations_section(run, summary.test or {}, export),
        _preprocessing_section(run, export),
        _usage_section(run, export),
    ]
    return f"---\n{_front_matter(run, export)}\n---\n\n" + "\n\n".join(sections) + "\n"


def _front_matter(run: LoadedRun, export: TransformersExport | None) -> str:
    """The Hub metadata, as YAML."""
    from huggingface_hub import ModelCardData

    spec = get_spec(run.config.model.name)
    data = ModelCardData(
        library_name="transformers" if export else "motionfit",
        pipeline_tag="video-classification",
        tags=["video-classification", "action-recognition", "motionfit", spec.family, spec.name],
        metrics=["accuracy"],
        base_model=_hub_id(run.config.model.pretrained),
    )
    return data.to_yaml()


def _hub_id(pretrained: str | None) -> str | None:
    """The hub id of ``model.pretrained`` (``hf:org/name`` or ``org/name`` that is no local
    path), else None."""
    if not pretrained:
        return None
    name = pretrained.removeprefix("hf:")
    return name if _HUB_ID.match(name) and not Path(name).exists() else None


def _title(run: LoadedRun, export: TransformersExport | None) -> str:
    spec = get_spec(run.config.model.name)
    title = get_family(spec.family).advice.title
    how = (
        f"for transformers (`{export.architecture}`)"
        if export
        else "as a motionfit run (no transformers class exists for this family)"
    )
    return (
        f"# {run.paths.root.name}\n\n"
        f"A {title} video classifier (`{spec.name}`) for {len(run.labels)} classes, trained with "
        f"motionfit {__version__} and exported {how}."
    )


def _model_section(run: LoadedRun, export: TransformersExport | None) -> str:
    cfg = run.config
    spec = get_spec(cfg.model.name)
    params = sum(p.numel() for p in run.model.parameters())
    rows = [
        ("model", f"`{spec.name}` ({get_family(spec.family).advice.title})"),
        *([("transformers class", f"`{export.architecture}`")] if export else []),
        (
            "input",
            f"{cfg.sampling.num_frames} RGB frames of {cfg.augment.crop_size} x "
            f"{cfg.augment.crop_size} px",
        ),
        (
            "started from",
            f"`{cfg.model.pretrained}`" if cfg.model.pretrained else "random initialization",
        ),
        ("head", _head_text(run)),
        ("parameters", f"{params / 1e6:.2f} M"),
    ]
    if export:
        rows += [
            (
                "placeholder weights",
                f"`{prefix}*`: `{export.architecture}` builds them, classification never runs them",
            )
            for prefix in export.placeholders
        ]
    return "## Model\n\n" + _table(("", ""), rows)


def _head_text(run: LoadedRun) -> str:
    """Pooling (where the family has a choice), hidden layer and dropout of the head."""
    attentive = getattr(run.model, "attentive", None)  # only where the family has a choice
    pooling = ""
    if attentive is not None:
        pooling = "attentive pooling, " if attentive else "mean of the tokens + norm, "
    hidden = run.config.model.hidden_dim
    layers = f"hidden layer of {hidden} + linear" if hidden else "linear classifier"
    return f"{pooling}{layers} (dropout {run.config.model.dropout:g} in training)"


def _data_section(run: LoadedRun) -> str:
    data = run.config.data
    val = f"`{data.val}`" if data.val else f"a held-out {1 - data.split_ratio:.0%} of the source"
    lines = [
        "## Data",
        "",
        f"Trained on `{data.source}`, validated on {val}"
        + (f", tested on `{data.test}`." if data.test else "."),
        "",
    ]
    counts = _class_counts(run.paths.root / CLASS_BALANCE_FILE)
    if counts:
        total = sum(counts.values()) or 1
        rows = [
            (name, str(counts.get(name, 0)), f"{counts.get(name, 0) / total:.0%}")
            for name in run.labels.names
        ]
        lines.append(_table(("class", "training videos", "share"), rows))
    else:
        lines.append("Classes: " + ", ".join(f"`{name}`" for name in run.labels.names) + ".")
    return "\n".join(lines)


def _class_counts(path: Path) -> dict[str, int]:
    """Training videos per class from ``class_balance.csv`` (empty when there is none)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["class"]: int(row["train_videos"]) for row in csv.DictReader(handle)}


def _recipe_section(cfg: Config) -> str:
    optim, train = cfg.optim, cfg.train
    optimizer = f"{optim.name}, peak lr {optim.lr:g}, weight decay {optim.weight_decay:g}"
    if optim.layer_decay < 1:
        optimizer += f", layer decay {optim.layer_decay:g}"
    rows = [
        ("clip", f"{cfg.sampling.num_frames} frames, {_stride_text(cfg)}"),
        (
            "crop",
            f"{cfg.augment.crop_size} px from a {cfg.augment.resolved_short_side()} px short side",
        ),
        ("optimizer", optimizer),
        ("schedule", f"{cfg.schedule.name}, warmup {cfg.schedule.warmup_epochs:g} epoch(s)"),
        (
            "epochs",
            f"{train.epochs} at most, batch {train.batch_size} x {train.accumulate} "
            "accumulated per device",
        ),
        ("frozen", cfg.model.freeze),
        ("augmentations", ", ".join(_augmentations_on(cfg)) or "none"),
    ]
    extras = {
        "label smoothing": train.label_smoothing,
        "EMA decay": train.ema_decay,
        "stochastic depth": cfg.model.drop_path,
    }
    rows += [(name, f"{value:g}") for name, value in extras.items() if value]
    if cfg.model.lora is not None:
        rows.append(("LoRA", f"rank {cfg.model.lora.rank} (merged into the weights)"))
    if train.class_weights != "none" or train.balanced_sampler:
        balance = f"class weights {train.class_weights}, balanced sampler {train.balanced_sampler}"
        rows.append(("class balance", balance))
    return "## Training recipe\n\n" + _table(("setting", "value"), rows)


def _stride_text(cfg: Config) -> str:
    seconds = cfg.sampling.resolved_stride_seconds()
    if seconds is not None:
        return f"{seconds:g} s apart"
    return f"frame stride {cfg.sampling.stride}" if cfg.sampling.stride > 1 else "consecutive"


def _augmentations_on(cfg: Config) -> list[str]:
    """The training augmentations the config turns on, as ``build_stage`` selects them."""
    augment, sampling = cfg.augment, cfg.sampling
    if not augment.enabled:
        return []
    out = []
    if augment.temporal:
        strides = "/".join(str(s) for s in sampling.resolved_train_strides())
        out.append(f"random clip start and stride {strides}, jitter p {sampling.jitter_prob:g}")
    if augment.spatial:
        low, high = augment.scale
        out.append(f"random resized crop (scale {low:g}-{high:g})")
        if augment.hflip:
            out.append(f"horizontal flip p {augment.hflip:g}")
    for name, augmentation in registered().items():
        settings = augment.settings(name)
        skipped = augmentation.stage == "clip-spatial" and not augment.spatial
        if not skipped and augmentation.is_on(settings):
            p = getattr(settings, "p", None)
            out.append(f"{name} p {p:g}" if isinstance(p, float) else name)
    return out


def _results_section(summary: RunSummary) -> str:
    lines = ["## Results", ""]
    test = summary.test
    if summary.val_top1 is not None:
        epochs = len(summary.history.get("epoch", []))
        lines.append(
            f"Best validation top-1: **{summary.val_top1:.1%}** at epoch {summary.best_epoch} "
            f"({epochs} epochs run; these weights; `metrics.csv`)."
        )
    else:
        lines.append("No validation scores were recorded (`metrics.csv` is missing or empty).")
    if test is None:
        lines += ["", "No test evaluation (`motionfit evaluate RUN --data TEST` writes one)."]
        return "\n".join(lines)
    where = f" on `{test['data']}`" if test.get("data") else ""
    views = f"{test.get('clips', '?')} clip(s) x {test.get('crops', '?')} crop(s) averaged"
    rows = [
        (name, f"{test[key]:.1%}")
        for name, key in (
            ("top-1", "top1"),
            (f"top-{test.get('top_k', 5)}", "top5"),
            ("mean class accuracy", "mean_class_accuracy"),
            ("macro F1", "macro_f1"),
        )
        if isinstance(test.get(key), float)
    ]
    lines += ["", f"Test{where}: {test.get('num_videos', '?')} videos, {views} per video.", ""]
    lines.append(_table(("metric", "value"), rows))
    if test.get("diagnostics"):
        lines += ["", _diagnostics_text(test)]
    return "\n".join(lines)


def _diagnostics_text(test: dict[str, Any]) -> str:
    """The motion-reliance diagnostics table and motionfit's reading of it."""
    diagnostics = test["diagnostics"]
    rows = [
        (DIAGNOSTIC_ROWS.get(name, name), f"{scores['top1']:.1%}", f"{scores['agreement']:.1%}")
        for name, scores in diagnostics.items()
    ]
    header = ("test clips altered", "top-1", "same prediction as the normal clip")
    return (
        "### Does it read motion?\n\nThe test videos scored again with their motion removed "
        "or altered (motionfit's motion-reliance diagnostics):\n\n"
        + _table(header, rows)
        + f"\n\nReading: {test.get('diagnostics_reading', 'none recorded')}."
    )


def _intended_use_section(run: LoadedRun) -> str:
    names = ", ".join(f"`{n}`" for n in run.labels.names[:8])
    more = f" and {len(run.labels) - 8} more" if len(run.labels) > 8 else ""
    return (
        "## Intended use\n\n"
        f"Recognizing which of its {len(run.labels)} actions ({names}{more}) a short video "
        f"clip shows, for videos like its training data (`{run.config.data.source}`). The "
        "results above are the evidence of how well it does that; test it on your own videos "
        "before relying on it.\n\n"
        "Out of scope: actions outside this list, videos unlike the training data (other "
        "cameras, viewpoints, domains), and decisions about people without human review."
    )


def _limitations_section(
    run: LoadedRun, test: dict[str, Any], export: TransformersExport | None
) -> str:
    spec = get_spec(run.config.model.name)
    items = [
        f"It knows only these {len(run.labels)} classes and always answers one of them; clips "
        "showing none of them get a confident wrong label unless you threshold the probability "
        "(`motionfit predict --min-confidence`)."
    ]
    if spec.tiny:
        items.append(f"`{spec.name}` is a tiny model for tests and demos, not for accuracy.")
    counts = _class_counts(run.paths.root / CLASS_BALANCE_FILE)
    if counts:
        low, high = min(counts.values()), max(counts.values())
        per_class = f"{low} per class" if low == high else f"{low} to {high} per class"
        items.append(
            f"Trained on {sum(counts.values())} videos ({per_class}); the rarer a class, the "
            "less reliable its predictions."
        )
    items += _diagnostics_limitations(test, len(run.labels))
    if export:
        clips, crops = run.config.eval.clips, run.config.eval.crops
        items.append(
            f"motionfit scores a video by averaging {clips} clip(s) x {crops} crop(s); one clip "
            "through the processor can score lower (see Preprocessing)."
        )
    temperature = run_temperature(run.paths.root)
    if temperature != 1.0:
        items.append(
            f"motionfit calibrated its probabilities with temperature {temperature:.3g}: "
            "softmax(log(p) / T) of the averaged probabilities p; raw logits are uncalibrated."
        )
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)


def _diagnostics_limitations(test: dict[str, Any], num_classes: int) -> list[str]:
    """What the motion-reliance diagnostics of the test metrics ``test`` say a user should
    beware of (none when the model reads motion)."""
    diagnostics = test.get("diagnostics")
    if not diagnostics:
        return [
            "Whether it reads motion or appearance was not tested (`motionfit evaluate RUN "
            "--data TEST --diagnose` runs the motion-reliance diagnostics)."
        ]
    if not test.get("diagnostics_meaningful", True):
        return [f"The motion-reliance diagnostics cannot be read: {test['diagnostics_caveat']}."]
    chance = 1 / max(1, test.get("num_classes", num_classes))
    frozen = diagnostics["frozen"]["agreement"]
    kept = (
        f"on frozen clips (no motion) it keeps {frozen:.0%} of its predictions "
        f"(chance {chance:.0%})"
    )
    if frozen >= APPEARANCE_AGREEMENT:
        return [
            f"It relies on appearance: {kept}. It may recognize the scene, objects or people "
            "rather than the action, and fail where they differ from its training videos or "
            "where actions differ only in their motion."
        ]
    if frozen > chance + MOTION_MARGIN:
        return [
            f"It uses appearance as well as motion: {kept}; part of its answers follow the "
            "look of the scene rather than the action."
        ]
    return []


def _preprocessing_section(run: LoadedRun, export: TransformersExport | None) -> str:
    cfg = run.config
    short, crop = cfg.augment.resolved_short_side(), cfg.augment.crop_size
    contract = (
        "`motionfit_preprocessing.json` holds the exact contract from a video file to "
        "probabilities (motionfit's docs/deploy.md has a reference implementation)."
    )
    if export is None:
        return (
            "## Preprocessing\n\n`motionfit predict` and `motionfit evaluate` do all of it. "
            + contract
        )
    mean, std = cfg.augment.normalization()
    missing = [
        f"frame sampling: it takes the frames you give it. The model wants "
        f"{cfg.sampling.num_frames} frames {_stride_text(cfg)}; motionfit takes "
        f"{cfg.eval.clips} such clips centred on equal parts of the video "
        f"({cfg.eval.mode} mode; shorter videos {cfg.sampling.short_video}).",
        f"view averaging: motionfit averages the softmax of {cfg.eval.clips} clip(s) x "
        f"{cfg.eval.crops} crop(s); average the probabilities of several calls to do the same.",
        f"decoding size: motionfit decodes frames whose short side is above "
        f"{NATIVE_DECODE_MAX_RATIO * short:g} px straight to a {short} px short side "
        "(FFmpeg's scaler on the YUV frame).",
        f"crop geometry: motionfit cuts the centre square of side round({crop} x short side / "
        f"{short}) from the decoded frame and resizes it to {crop} px; the processor resizes "
        "the whole frame, then crops, so pixels differ slightly.",
        *export.processor_gaps,
    ]
    return (
        "## Preprocessing\n\n"
        f"`{export.processor}` resizes each frame's short side to {short} px (bilinear, "
        f"antialiased), crops the centre {crop} x {crop} px, scales to [0, 1] and normalizes "
        f"with mean {list(mean)} and std {list(std)}: motionfit's evaluation transform of one "
        "view. It does not reproduce:\n\n"
        + "\n".join(f"- {item}" for item in missing)
        + "\n\n"
        + contract
    )


def _usage_section(run: LoadedRun, export: TransformersExport | None) -> str:
    if export is None:
        return (
            "## How to use\n\n"
            f"With motionfit installed: `motionfit predict {VIDEO_PLACEHOLDER} "
            f"--run {PLACEHOLDER}`, or from Python:\n\n```python\n" + _motionfit_snippet() + "```"
        )
    logits = (
        ""
        if export.flat_logits
        else (
            f"\n\n`{export.architecture}` returns logits `[batch, 1, classes]` (its pooling query "
            "axis); `.squeeze(1)` gives `[batch, classes]`."
        )
    )
    return (
        "## How to use\n\n```python\n"
        + _transformers_snippet(run.config, export)
        + f"```\n\nThe model takes `{export.input_name}` as `[batch, frames, 3, height, width]`."
        + logits
    )


def _motionfit_snippet() -> str:
    return (
        "from motionfit.predict import predict_videos\n"
        "from motionfit.run import load_run\n\n"
        f'MODEL = "{PLACEHOLDER}"  # from the Hub: huggingface_hub.snapshot_download(REPO_ID)\n'
        f'VIDEO = "{VIDEO_PLACEHOLDER}"\n\n'
        "run = load_run(MODEL)  # config.yaml, labels.txt, model.safetensors\n"
        "prediction = predict_videos(run, [VIDEO]).predictions[0]\n"
        "print(prediction.label, prediction.top[0].probability)\n"
    )


def _transformers_snippet(cfg: Config, export: TransformersExport) -> str:
    """Load the model and processor, decode a video with PyAV, take one centred clip as
    motionfit does, classify it."""
    frames = cfg.sampling.num_frames
    seconds = cfg.sampling.resolved_stride_seconds()
    stride = (
        f"max(1, round({seconds:g} * float(stream.average_rate)))"
        if seconds is not None
        else str(cfg.sampling.stride)
    )
    if cfg.sampling.short_video == "loop":
        index = f"(start + np.arange({frames}) * stride) % n"
        start = "(n - span) // 2 if n >= span else n // 2"
    else:
        index = f"np.minimum(start + np.arange({frames}) * stride, n - 1)"
        start = "max(0, (n - span) // 2)"
    auto = export.auto_processor
    return f"""import av
import numpy as np
import torch
from transformers import AutoModelForVideoClassification, {auto}

MODEL = "{PLACEHOLDER}"  # or its Hub repo id
VIDEO = "{VIDEO_PLACEHOLDER}"

model = AutoModelForVideoClassification.from_pretrained(MODEL).eval()
processor = {auto}.from_pretrained(MODEL)
with av.open(VIDEO) as container:
    stream = container.streams.video[0]
    stride = {stride}
    video = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
# one clip of {frames} frames from the middle of the video
n, span = len(video), ({frames} - 1) * stride + 1
start = {start}
inputs = processor(list(video[{index}]), return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits
print(model.config.id2label[int(logits.argmax(-1))])
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (``|`` in cells escaped)."""
    # huggingface_hub's card templates fill fixed sections; they build no tables
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join(
        "| " + " | ".join(str(c).replace("|", "\\|") for c in line) + " |" for line in lines
    )
