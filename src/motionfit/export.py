"""Export a trained run for use without motionfit: ONNX or TorchScript, plus a JSON sidecar.

The exported graph is the classifier alone: float32 ``video`` ``[batch, 3, T, S, S]``
(normalized, channels RGB) -> ``logits`` ``[batch, num_classes]``, with a dynamic batch axis.
The sidecar ``FILE.json`` (also embedded: ONNX ``metadata_props["motionfit"]``, TorchScript
extra file ``motionfit.json``) holds everything needed to feed it: clip length and stride,
resize and crop sizes, mean/std, the views to average, and the class names. A multi-label
run's sidecar says ``output.multi_label: true`` (sigmoid per class) and carries the per-class
thresholds and temperatures.

- ONNX: ``torch.onnx.export(dynamo=True)`` (the torch 2.x exporter, via ``torch.export``) with a
  dynamic batch dimension; weights go to an external ``FILE.data`` only above 1.5 GB.
- TorchScript: ``torch.jit.trace``. TorchScript is deprecated in torch 2.14, but a traced file
  is still what ``torch.jit.load`` and C++ libtorch read without the model's Python source;
  ``torch.jit.script`` cannot compile the transformers models. Tracing records one path through
  ``forward``: these models have no data-dependent branches, and the batch axis stays dynamic
  (checked after export on a batch of another size).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from motionfit import __version__
from motionfit.calibration import run_temperature
from motionfit.calibration_multi import run_class_temperatures
from motionfit.data.transforms import NATIVE_DECODE_MAX_RATIO
from motionfit.errors import ModelError
from motionfit.evaluation.evaluate_multi import run_thresholds
from motionfit.progress import progress_bar
from motionfit.run import LoadedRun

ExportFormat = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
INPUT_NAME = "video"
OUTPUT_NAME = "logits"
METADATA_KEY = "motionfit"
JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"  # the choice is documented above
EXTERNAL_DATA_BYTES = 1_500_000_000  # ONNX protobuf files are limited to 2 GB
TRACE_BATCH = 2
TOLERANCE = 1e-3  # max |logit difference| allowed, relative to the largest |logit| (at least 1)
CHECK_BATCH = 3  # a batch size other than the traced one, to prove the batch axis is dynamic
CHECK_EXTRA_FRAMES = 4  # a dynamic frames axis is checked on clips this much longer


@dataclass(frozen=True)
class ExportResult:
    """Files written by :func:`export_run` and how closely the export matches PyTorch.

    ``max_abs_diff`` is the largest absolute logit difference on a random batch, or None when
    the runtime to check it (onnxruntime) is not installed. Only a float32 export must stay
    within ``TOLERANCE``; what fp16 and int8 cost is measured, not bounded
    (``benchmarks/export.py``).
    """

    model_path: Path
    sidecar_path: Path
    max_abs_diff: float | None
    precision: str = "fp32"


SAMPLING_NOTES = {
    "uniform": (
        "n = the video's frame count, stride = frame_stride (or max(1, round(stride_seconds * "
        "fps)) when stride_seconds is set), span = (num_frames - 1) * stride + 1, free = n - "
        "span; clip k of K = clips starts at int(free * (k + 0.5) / K + 1e-9) (the centres of K "
        "equal parts); a video shorter than the span (free < 0) starts clip k at min(n - 1, "
        "int(n * (k + 0.5) / K)) and wraps indices modulo n (short_video=loop), or starts at 0 "
        "and clamps indices to n - 1 (pad); frame i of the clip is start + i * stride"
    ),
    "segments": (
        "one clip: the video is cut into num_frames equal segments and the middle frame of each "
        "is taken (TSN): bounds b_j = j * n // num_frames, frame j = (b_j + max(b_(j+1), b_j + "
        "1) - 1) // 2"
    ),
}


def sidecar_path(model_path: str | Path) -> Path:
    """The JSON sidecar of an exported file: ``FILE`` + ``.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def preprocessing_spec(
    run: LoadedRun, fmt: str, precision: str = "fp32", dynamic_frames: bool = False
) -> dict[str, Any]:
    """The sidecar: input/output contract, preprocessing and labels of an exported run. It is
    the whole contract from a decoded video to the model's input and back to probabilities:
    following it alone reproduces ``motionfit predict`` (docs/deploy.md has a reference
    implementation, run by the tests)."""
    cfg = run.config
    size = cfg.augment.crop_size
    frames = cfg.sampling.num_frames
    short_side = cfg.augment.resolved_short_side()
    mean, std = cfg.augment.mean, cfg.augment.std
    assert mean is not None and std is not None  # Config validation fills them from the model
    return {
        "format": fmt,
        "precision": precision,
        "model": cfg.model.name,
        "motionfit_version": __version__,
        "torch_version": torch.__version__,
        "input": {
            "name": INPUT_NAME,
            "dtype": "float32",
            "layout": "BCTHW",
            "shape": ["batch", 3, "frames" if dynamic_frames else frames, size, size],
            "channels": "RGB",
            "frames": f"any number (trained on {frames})" if dynamic_frames else frames,
        },
        "output": _multi_label_output(run) if cfg.data.multi_label else _output(run),
        "preprocess": {
            "num_frames": frames,
            "frame_stride": cfg.sampling.stride,
            "stride_seconds": cfg.sampling.resolved_stride_seconds(),
            "sampling": cfg.eval.mode,
            "clips": cfg.eval.clips,
            "crops": cfg.eval.crops,
            "short_video": cfg.sampling.short_video,
            "resize_short_side": short_side,
            "crop_size": size,
            "crop": "centre"
            if cfg.eval.crops == 1
            else "left, centre, right along the long side (top, centre, bottom if portrait)",
            "pixel_scale": 1 / 255,
            "mean": list(mean),
            "std": list(std),
            "formula": "x = (rgb_uint8 / 255 - mean[c]) / std[c]",
            "clip_sampling": SAMPLING_NOTES[cfg.eval.mode],
            "frame_index": "frames k = 0..n-1 in presentation order at times t_k = (pts_k - "
            "pts_0) * time_base (AVI: k / fps, fps = the stream's average rate); step = t_(n-1) / "
            "(n - 1). A video whose t_k stray from k * step by more than step / 4 somewhere "
            "(variable frame rate, n >= 3) has fps = (n - 1) / t_(n-1), and a sampled index i "
            "takes the frame whose t_k is nearest to i * step (the earlier on a tie); otherwise "
            "fps is the stream's average rate and index i is frame i",
            "decode": {
                "downscale_if_short_side_above": NATIVE_DECODE_MAX_RATIO * short_side,
                "to_short_side": short_side,
                "size": "short side = to_short_side, long side = int(to_short_side * long / "
                "short) (truncated); otherwise the frame's own size",
                "how": "PyAV: frame.reformat(width=W, height=H) on the decoded YUV frame, then "
                "frame.to_ndarray(format='rgb24') (FFmpeg's scaler, PyAV's defaults)",
            },
            "crop_region": "on the decoded H x W frame: side = max(1, min(short, round(crop_size "
            "* short / resize_short_side))), short = min(H, W); centre = (round((H - side) / 2), "
            "round((W - side) / 2)); 3 crops: also at 0 and W - side along the width (H - side "
            "along the height if H > W), in that order (start, centre, end)",
            "resize": "the side x side region of the uint8 frames to crop_size x crop_size: "
            "torchvision.transforms.v2.functional.resized_crop(frames_uint8_TCHW, top, left, "
            "side, side, [crop_size, crop_size], antialias=True) (bilinear, antialiased); none "
            "when side == crop_size",
            "views_order": "clip-major: clip 0 crops 0..C-1, clip 1 crops 0..C-1, ...",
        },
        "labels": list(run.labels.names),
    }


def _output(run: LoadedRun) -> dict[str, Any]:
    """The sidecar's ``output`` of a single-label run: softmax logits, one temperature."""
    return {
        "name": OUTPUT_NAME,
        "dtype": "float32",
        "shape": ["batch", len(run.labels)],
        "meaning": "class logits: softmax, then average the probabilities of a video's views",
        "temperature": run_temperature(run.paths.root),
        "calibration": "probabilities p (the views' average) -> softmax(log(p) / temperature); "
        "temperature 1 = unchanged",
    }


def _multi_label_output(run: LoadedRun) -> dict[str, Any]:
    """The sidecar's ``output`` of a multi-label run: per-class sigmoids, thresholds and
    temperatures (``multi_label: true``)."""
    names = run.labels.names
    return {
        "name": OUTPUT_NAME,
        "dtype": "float32",
        "shape": ["batch", len(names)],
        "multi_label": True,
        "meaning": "class logits: sigmoid per class, then average the probabilities of a "
        "video's views",
        "thresholds": run_thresholds(run),
        "decision": "the video has class k when its averaged probability p_k >= thresholds[k]",
        "temperatures": run_class_temperatures(run.paths.root, names),
        "calibration": "reported probability of class k: sigmoid(logit(p_k) / temperatures[k]) "
        "(decisions use p_k); temperature 1 = unchanged",
    }


def export_run(
    run: LoadedRun,
    out: str | Path,
    fmt: ExportFormat = "onnx",
    *,
    precision: Precision = "fp32",
    verify: bool = True,
) -> ExportResult:
    """Export ``run``'s model to ``out`` in ``fmt`` with its sidecar ``out + .json``; with
    ``verify`` the export is run on a random batch and compared with PyTorch (ModelError
    beyond ``TOLERANCE`` for float32).

    ONNX takes ``precision``: ``fp16`` (weights and activations in half precision, float32
    input and output; for GPU runtimes) or ``int8`` (ONNX Runtime's dynamic quantization:
    int8 weights, activations quantized per batch). The frames axis stays dynamic for the
    families that take any clip length (``Capabilities.any_clip_length``)."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r} (one of: {', '.join(PRECISIONS)})")
    if precision != "fp32" and fmt != "onnx":
        raise ModelError(f"--precision {precision} is for ONNX exports; TorchScript is fp32")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = run.model.eval().cpu()
    dynamic_frames = fmt == "onnx" and _takes_any_clip_length(run.config.model.name)
    spec = preprocessing_spec(run, fmt, precision, dynamic_frames)
    example = _random_clips(spec, TRACE_BATCH, seed=0, frames=run.config.sampling.num_frames)
    with progress_bar(f"exporting to {fmt}") as bar:
        step = bar.add_task("export", total=2 if verify else 1)
        if fmt == "onnx":
            _export_onnx(model, example, out, spec, dynamic_frames)
            if precision != "fp32":
                _lower_precision(out, precision, spec)
        else:
            _export_torchscript(model, example, out, spec)
        sidecar_path(out).write_text(json.dumps(spec, indent=2) + "\n")
        bar.advance(step)
        diff = _verify(model, out, spec, run.config.sampling.num_frames) if verify else None
        bar.advance(step)
    return ExportResult(out, sidecar_path(out), diff, precision)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Python's root logger at ERROR for the block (onnxruntime's tools warn through it)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


@contextmanager
def _quiet_library() -> Iterator[None]:
    """transformers' notes while a model is traced (an unrecognized ``loss_type``, a renamed
    checkpointing property) silenced for the block: they concern training, not the export."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            yield
    finally:
        logger.setLevel(level)


def _takes_any_clip_length(model_name: str) -> bool:
    """Whether the model's family declares ``any_clip_length``."""
    from motionfit.models.registry import get_family, get_spec

    return get_family(get_spec(model_name).family).capabilities.any_clip_length


def _lower_precision(path: Path, precision: str, spec: dict[str, Any]) -> None:
    """Rewrite the float32 ONNX file ``path`` in ``precision`` (fp16: onnxruntime's float16
    converter, float32 kept at the input and output; int8: onnxruntime's dynamic
    quantization), with the sidecar in its metadata again."""
    import onnx

    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        lowered = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    else:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with _quiet_root_logger():  # its advice to pre-process the model, once per call
            quantize_dynamic(str(path), str(path), weight_type=QuantType.QInt8)
        lowered = onnx.load(str(path))
    del lowered.metadata_props[:]
    entry = lowered.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(spec)
    onnx.save(lowered, str(path))


def _verify(model: torch.nn.Module, out: Path, spec: dict[str, Any], frames: int) -> float | None:
    """Largest |logit difference| of the export vs PyTorch on a random batch of another size
    (and, with a dynamic frames axis, also of longer clips); None without onnxruntime.
    ModelError beyond ``TOLERANCE`` for a float32 export."""
    lengths = [frames]
    if spec["input"]["shape"][2] == "frames":
        lengths.append(frames + CHECK_EXTRA_FRAMES)
    diffs, tolerance = [], 0.0
    for length in lengths:
        check = _random_clips(spec, CHECK_BATCH, seed=1, frames=length)
        with torch.inference_mode():
            expected = model(check).numpy()
        got = run_exported(out, check.numpy())
        if got is None:
            return None
        diffs.append(float(np.abs(got - expected).max()))
        tolerance = max(tolerance, TOLERANCE * max(1.0, float(np.abs(expected).max())))
    diff = max(diffs)
    if spec["precision"] == "fp32" and not diff <= tolerance:
        raise ModelError(
            f"{out}: the export differs from PyTorch by {diff:.2e} (tolerance "
            f"{tolerance:.1e}); the file was written but should not be trusted"
        )
    return diff


def run_exported(path: str | Path, video: np.ndarray) -> np.ndarray | None:
    """Logits of an exported file (format from its sidecar) for a float32 ``[B, 3, T, S, S]``
    batch; None for ONNX when onnxruntime is not installed."""
    path = Path(path)
    fmt = json.loads(sidecar_path(path).read_text())["format"]
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=JIT_DEPRECATION)
            module = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return module(torch.from_numpy(video)).numpy()
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: video})[0]


def _export_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    out: Path,
    spec: dict[str, Any],
    dynamic_frames: bool = False,
) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    axes: dict[int, Any] = {0: batch}
    if dynamic_frames:
        axes[2] = torch.export.Dim("frames", min=2, max=1024)
    try:
        program = torch.onnx.export(
            model,
            (example,),
            None,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"video": axes},
            dynamo=True,
            verbose=False,
        )
    except Exception as exc:  # exporter failures come as many types; keep the cause
        raise ModelError(
            f"{spec['model']}: ONNX export failed ({type(exc).__name__}: {exc})"
        ) from exc
    assert program is not None  # dynamo=True always returns an ONNXProgram
    program.model.metadata_props[METADATA_KEY] = json.dumps(spec)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    program.save(out, external_data=size > EXTERNAL_DATA_BYTES)


def _export_torchscript(
    model: torch.nn.Module, example: torch.Tensor, out: Path, spec: dict[str, Any]
) -> None:
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), _quiet_library():
        warnings.filterwarnings("ignore", message=JIT_DEPRECATION)
        # shape checks on the fixed C, T, H, W freeze into the trace; the batch axis is
        # checked by running the export on another batch size (verify)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(out), _extra_files={"motionfit.json": json.dumps(spec)})


def _random_clips(spec: dict[str, Any], batch: int, seed: int, frames: int) -> torch.Tensor:
    size = spec["preprocess"]["crop_size"]
    return torch.randn(
        [batch, 3, frames, size, size], generator=torch.Generator().manual_seed(seed)
    )
