"""Export a trained run as a HuggingFace model folder (``save_pretrained`` layout + model card).

VideoMAE, TimeSformer, V-JEPA 2 and VideoPrism runs become the transformers
``*ForVideoClassification`` of their family: ``config.json`` (``id2label`` from the run's
labels), ``model.safetensors`` (motionfit's backbone and head under transformers' names), the
family's processor config and a ``README.md`` card. ``AutoModelForVideoClassification`` loads
the folder and gives motionfit's logits (checked on export); transformers' models take
``[B, T, C, H, W]`` where motionfit's take ``[B, C, T, H, W]``. A head transformers' class
cannot compute (a hidden layer, mean pooling where it pools attentively) is a
:class:`~motionfit.errors.ModelError`, not a folder that silently gives other logits.

The other families (3-D CNNs, Video Swin, MViT) have no transformers class: their folder is a
motionfit run that :func:`motionfit.run.load_run` reads (``config.yaml``, ``labels.txt``,
``model.safetensors``) with the same card.

Both layouts carry ``motionfit_preprocessing.json``, the exact preprocessing contract of
``motionfit export`` (see docs/deploy.md), which a transformers processor only approximates.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from motionfit.calibration import CALIBRATION_FILE
from motionfit.errors import ModelError
from motionfit.model_card import TransformersExport, write_model_card
from motionfit.models.base import VideoClassifier
from motionfit.models.hf_common import HFVideoClassifier
from motionfit.models.registry import get_spec
from motionfit.models.weights import class_metadata
from motionfit.output_dir import LOCK_FILE, MARKER_FILE
from motionfit.run import CONFIG_FILE, LABELS_FILE, MODEL_FILE, LoadedRun, load_run

PREPROCESSING_FILE = "motionfit_preprocessing.json"
# what a previous export into the same folder may have left (the other layout's files)
EXPORT_FILES = (
    "config.json", MODEL_FILE, "model.safetensors.index.json", "preprocessor_config.json",
    "video_preprocessor_config.json", CONFIG_FILE, LABELS_FILE, CALIBRATION_FILE,
    PREPROCESSING_FILE, "README.md",
)  # fmt: skip
SHARD_PATTERN = "model-*-of-*.safetensors"
TOLERANCE = 1e-4  # max |logit difference| of the reloaded folder, relative to max |logit| (>= 1)
CHECK_BATCH = 1  # transformers' batch axis is dynamic by construction; one clip is cheaper
HEAD_CLASSIFIER = "head.layers.1."  # VideoHead without a hidden layer: dropout, linear


@dataclass(frozen=True)
class HFLayout:
    """How a motionfit family maps onto its transformers ``*ForVideoClassification``.

    Attributes:
        architecture: the transformers class (``AutoModelForVideoClassification`` maps the
            family's config to it).
        input_name: the keyword the transformers model takes its ``[B, T, C, H, W]`` clip by.
        processor: the transformers processor class its hub checkpoints ship.
        renames: motionfit key prefix -> transformers key prefix (besides the classifier).
        attentive: transformers' class pools with an attention pooler (motionfit's
            ``model.head=attentive``), not the mean of the tokens.
        unused: key prefixes of transformers' class that classification never runs (kept at
            transformers' initialization, seeded).
        flat_logits: its logits are ``[B, classes]`` (False: ``[B, 1, classes]``).
    """

    architecture: str
    input_name: str
    processor: str
    renames: tuple[tuple[str, str], ...] = ()
    attentive: bool = False
    unused: tuple[str, ...] = ()
    flat_logits: bool = True


HF_LAYOUTS: dict[str, HFLayout] = {
    "videomae": HFLayout(
        "VideoMAEForVideoClassification", "pixel_values", "VideoMAEImageProcessor"
    ),
    "timesformer": HFLayout(
        "TimesformerForVideoClassification", "pixel_values", "VideoMAEImageProcessor"
    ),
    "vjepa2": HFLayout(
        "VJEPA2ForVideoClassification",
        "pixel_values_videos",
        "VJEPA2VideoProcessor",
        attentive=True,
        unused=("vjepa2.predictor.",),
    ),
    # transformers maps model type "videoprism" to LlavaOnevisionVideoProcessor
    "videoprism": HFLayout(
        "VideoPrismForVideoClassification",
        "pixel_values_videos",
        "LlavaOnevisionVideoProcessor",
        renames=(("pooler_norm.", "head_layernorm."), ("pooler.", "head.")),
        attentive=True,
        flat_logits=False,  # its classifier keeps the pooling query axis
    ),
}


@dataclass(frozen=True)
class HFExportResult:
    """What :func:`export_hf` wrote.

    Attributes:
        out: the folder.
        files: the files written, sorted.
        architecture: the transformers class that loads the folder, or None for a motionfit
            folder (families without one).
        max_abs_diff: largest |logit difference| between the reloaded folder and the run's
            model on a random batch (None when not verified).
    """

    out: Path
    files: tuple[Path, ...]
    architecture: str | None
    max_abs_diff: float | None


def hf_layout(run: LoadedRun) -> HFLayout | None:
    """The transformers layout of the run's family, or None when transformers has none."""
    return HF_LAYOUTS.get(get_spec(run.config.model.name).family)


def export_hf(run: LoadedRun, out: str | Path, *, verify: bool = True) -> HFExportResult:
    """Write ``run`` as a HuggingFace model folder ``out`` (created if needed; the files of an
    earlier export there are replaced). With ``verify`` the folder is loaded back and its
    logits compared with the run's model (:class:`ModelError` beyond ``TOLERANCE``).

    A family with a transformers class gets a ``save_pretrained`` folder; one whose head that
    class cannot compute is a :class:`ModelError` naming the config key. Other families get a
    motionfit folder (:func:`motionfit.run.load_run` reads it). A multi-label run is a
    :class:`ModelError` (a transformers classifier's scores would be read as one softmax)."""
    if run.config.data.multi_label:
        raise ModelError(
            f"{run.paths.root}: a multi-label run (config key 'data.multi_label') exports to "
            "onnx or torchscript, whose sidecar carries the sigmoid outputs and thresholds"
        )
    out = Path(out)
    layout = hf_layout(run)
    if layout is not None:  # built before anything is written: a ModelError leaves no folder
        hf_model = transformers_model(run, layout)
        processor = transformers_processor(run, layout)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous_export(out)
    if layout is None:
        architecture = None
        _write_motionfit_folder(run, out)
        write_model_card(run, out, None)
    else:
        architecture = layout.architecture
        hf_model.save_pretrained(out)
        del hf_model  # its memory is free before the check loads the folder again
        processor.save_pretrained(out)
        card = TransformersExport(
            architecture=architecture,
            processor=type(processor).__name__,
            input_name=layout.input_name,
            processor_gaps=processor_gaps(run, processor),
            flat_logits=layout.flat_logits,
            placeholders=layout.unused,
        )
        write_model_card(run, out, card)
    _write_preprocessing(run, layout, out)
    diff = _verify(run, layout, out) if verify else None
    files = tuple(sorted(p for p in out.iterdir() if p.name in _written_names(out)))
    return HFExportResult(out=out, files=files, architecture=architecture, max_abs_diff=diff)


def check_reproducible(run: LoadedRun, layout: HFLayout) -> None:
    """Raise a one-line :class:`ModelError` naming the config key when transformers' class
    cannot compute the run's head: a hidden layer, or other pooling than its own."""
    model = _encoder_classifier(run)
    name = layout.architecture
    if run.config.model.hidden_dim:
        raise ModelError(
            f"model.hidden_dim={run.config.model.hidden_dim}: transformers' {name} has one "
            "linear classifier, not motionfit's hidden layer; export ONNX instead or retrain "
            "with model.hidden_dim=0"
        )
    if layout.attentive and not getattr(model, "attentive", True):
        raise ModelError(
            f"model.head=linear: transformers' {name} pools with its attentive pooler, not the "
            "mean of the tokens + fc_norm; export ONNX instead or retrain with "
            "model.head=attentive"
        )


def hf_state_dict(model: VideoClassifier, layout: HFLayout) -> dict[str, torch.Tensor]:
    """The model's weights under the names of its transformers ``*ForVideoClassification``:
    the head's linear layer -> ``classifier.*`` and the family's ``renames``."""
    # no library maps motionfit's names to transformers'; they differ by one prefix per part
    renames = ((HEAD_CLASSIFIER, "classifier."), *layout.renames)
    state = {}
    for key, tensor in model.state_dict().items():
        new = next((to + key[len(old) :] for old, to in renames if key.startswith(old)), key)
        state[new] = tensor
    return state


def hf_config(model: HFVideoClassifier, labels: Sequence[str]) -> Any:
    """A copy of the encoder's transformers config with the run's classes as
    ``id2label``/``label2id``."""
    config = copy.deepcopy(model.config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: index for index, name in enumerate(labels)}
    return config


def processor_gaps(run: LoadedRun, processor: Any) -> tuple[str, ...]:
    """Where the saved processor's resize, crop or normalization differs from the run's
    (as it reads back: a processor class may override what it was given)."""
    # processors have no comparison with another config; these are the four settings at stake
    augment = run.config.augment
    wanted = {
        "short side": augment.resolved_short_side(),
        "crop": augment.crop_size,
        "mean": tuple(augment.mean or ()),
        "std": tuple(augment.std or ()),
    }
    got = {
        "short side": processor.size.shortest_edge,
        "crop": processor.crop_size.height,
        "mean": tuple(processor.image_mean),
        "std": tuple(processor.image_std),
    }
    return tuple(
        f"{what}: the processor uses {got[what]}, the run {wanted[what]}"
        for what in wanted
        if got[what] != wanted[what]
    )


def push_to_hub(out: str | Path, repo_id: str, *, private: bool = False) -> str:
    """Upload an exported folder to the Hub repo ``repo_id`` (created if missing); returns
    the commit URL. Needs network and a token (``huggingface-cli login`` or ``HF_TOKEN``); not
    covered by the tests, which run offline. motionfit's output marker and lock stay home."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(out),
        ignore_patterns=[MARKER_FILE, LOCK_FILE, ".*.motionfit-*.tmp"],
        commit_message="Upload motionfit export",
    )
    return str(commit.commit_url)


def _classifier(run: LoadedRun) -> VideoClassifier:
    if not isinstance(run.model, VideoClassifier):
        raise ModelError(f"{run.paths.root}: the run's model is not a motionfit VideoClassifier")
    return run.model


def _encoder_classifier(run: LoadedRun) -> HFVideoClassifier:
    if not isinstance(run.model, HFVideoClassifier):
        raise ModelError(f"{run.paths.root}: the run's model has no transformers encoder")
    return run.model


def transformers_model(run: LoadedRun, layout: HFLayout) -> Any:
    """The family's ``*ForVideoClassification`` with the run's weights, in eval mode. A head
    it cannot compute (:func:`check_reproducible`) or weights that do not fit it one to one (a
    learned VideoMAE position table) are a :class:`ModelError`."""
    import transformers

    check_reproducible(run, layout)
    model = _encoder_classifier(run)
    with torch.random.fork_rng():  # the unused parts' initialization, the same every export
        torch.manual_seed(0)
        hf_model = getattr(transformers, layout.architecture)(hf_config(model, run.labels.names))
    missing, unexpected = hf_model.load_state_dict(hf_state_dict(model, layout), strict=False)
    problems = [f"has no place for {key}" for key in unexpected] + [
        f"needs {key}" for key in missing if not key.startswith(layout.unused)
    ]
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(
            f"{run.paths.root}: transformers' {layout.architecture} {problems[0]}{more}; "
            "export ONNX instead"
        )
    return hf_model.eval()


def transformers_processor(run: LoadedRun, layout: HFLayout) -> Any:
    """The family's processor set to the run's eval resize, centre crop and normalization
    (bilinear, antialiased, as motionfit resizes)."""
    import transformers
    from transformers.image_utils import PILImageResampling

    augment = run.config.augment
    mean, std = augment.normalization()
    return getattr(transformers, layout.processor)(
        do_resize=True,
        size={"shortest_edge": augment.resolved_short_side()},
        resample=PILImageResampling.BILINEAR,
        do_center_crop=True,
        crop_size={"height": augment.crop_size, "width": augment.crop_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(mean),
        image_std=list(std),
    )


def _write_motionfit_folder(run: LoadedRun, out: Path) -> None:
    """The run's config, labels, weights (classes in the metadata) and calibration: a folder
    :func:`motionfit.run.load_run` and ``motionfit predict --run`` read."""
    model = _classifier(run)
    state = {key: tensor.contiguous() for key, tensor in model.state_dict().items()}
    save_file(state, str(out / MODEL_FILE), metadata=class_metadata(run.labels.names))
    shutil.copyfile(run.paths.config, out / CONFIG_FILE)
    run.labels.save(out / LABELS_FILE)
    calibration = run.paths.root / CALIBRATION_FILE
    if calibration.is_file():
        shutil.copyfile(calibration, out / CALIBRATION_FILE)


def _write_preprocessing(run: LoadedRun, layout: HFLayout | None, out: Path) -> None:
    """``motionfit_preprocessing.json``: the export sidecar's contract, with the input of the
    transformers model where there is one."""
    # imported here: motionfit.export may import this module for ``--format hf``
    from motionfit.export import preprocessing_spec

    spec = preprocessing_spec(run, "hf" if layout else "motionfit")
    if layout is not None:
        frames, size = run.config.sampling.num_frames, run.config.augment.crop_size
        spec["input"] = spec["input"] | {
            "name": layout.input_name,
            "layout": "BTCHW",
            "shape": ["batch", frames, 3, size, size],
        }
        if not layout.flat_logits:
            spec["output"]["shape"] = ["batch", 1, len(run.labels)]
    (out / PREPROCESSING_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def _verify(run: LoadedRun, layout: HFLayout | None, out: Path) -> float:
    """Largest |logit difference| of the folder loaded back (transformers or ``load_run``) vs
    the run's model on a random batch; :class:`ModelError` beyond ``TOLERANCE``."""
    model = _classifier(run)
    frames, size = run.config.sampling.num_frames, run.config.augment.crop_size
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(CHECK_BATCH, 3, frames, size, size, generator=generator)
    with torch.inference_mode():
        expected = model(video)
        got = _reloaded_logits(out, layout, video)
    diff = float((got.reshape(expected.shape) - expected).abs().max())
    tolerance = TOLERANCE * max(1.0, float(expected.abs().max()))
    if not diff <= tolerance:
        raise ModelError(
            f"{out}: the exported model's logits differ from the run's by {diff:.2e} "
            f"(tolerance {tolerance:.1e}); the folder was written but should not be trusted"
        )
    return diff


def _reloaded_logits(out: Path, layout: HFLayout | None, video: torch.Tensor) -> torch.Tensor:
    """Logits of the exported folder, loaded as its card says, for ``[B, C, T, H, W]``."""
    if layout is None:
        return load_run(out).model(video)
    from transformers import AutoModelForVideoClassification

    hf_model = AutoModelForVideoClassification.from_pretrained(out).eval()
    return hf_model(**{layout.input_name: video.permute(0, 2, 1, 3, 4)}).logits


def _clear_previous_export(out: Path) -> None:
    """Remove the files an earlier export (either layout) left in ``out``, so none survives
    beside this one's."""
    # save_pretrained only adds files; nothing in transformers removes another layout's
    for path in [*(out / name for name in EXPORT_FILES), *out.glob(SHARD_PATTERN)]:
        if path.is_file():
            path.unlink()


def _written_names(out: Path) -> set[str]:
    return {*EXPORT_FILES, *(p.name for p in out.glob(SHARD_PATTERN))}
