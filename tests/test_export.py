"""motionfit export: ONNX (onnxruntime) and TorchScript round trips against PyTorch for a CNN and
a transformer, and a sidecar complete enough to preprocess a real clip without motionfit."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from run_fixtures import make_run, make_videos, run_cli
from torchvision.transforms.v2 import functional as F

from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import VideoRecord
from motionfit.data.transforms import VideoNormalize
from motionfit.export import ExportResult, export_run, sidecar_path
from motionfit.run import LoadedRun, load_run

REAL_CLIP = "kinetics_armwrestling_340x256_28fps.mp4"


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_videos(tmp_path_factory.mktemp("videos"), classes=3, per_class=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, videos: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        model: make_run(root / model, videos, model=model, seed=1)
        for model in ("motioncnn_tiny", "videomae_tiny")
    }


@pytest.fixture(scope="module")
def onnx_exports(
    tmp_path_factory: pytest.TempPathFactory, runs: dict[str, Path]
) -> dict[str, ExportResult]:
    root = tmp_path_factory.mktemp("onnx")
    return {
        model: export_run(load_run(run), root / f"{model}.onnx", "onnx")
        for model, run in runs.items()
    }


def real_clips(run: LoadedRun, path: Path) -> torch.Tensor:
    """The run's eval views of a real clip, normalized: float ``[V, 3, T, S, S]``."""
    dataset = VideoClipDataset(
        [VideoRecord(path, -1)], mode="eval", sampling=run.config.sampling,
        augment=run.config.augment, num_clips=3,
    )  # fmt: skip
    return VideoNormalize.from_config(run.config.augment)(dataset[0]["video"])


@pytest.mark.parametrize("model", ["motioncnn_tiny", "videomae_tiny"])
def test_onnx_matches_pytorch_on_real_clips(
    model: str,
    runs: dict[str, Path],
    onnx_exports: dict[str, ExportResult],
    real_videos_dir: Path,
) -> None:
    run = load_run(runs[model])
    result = onnx_exports[model]
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    assert not Path(f"{result.model_path}.data").exists()  # small models: one file
    session = onnxruntime.InferenceSession(str(result.model_path))
    clips = real_clips(run, real_videos_dir / REAL_CLIP)
    with torch.no_grad():
        expected = run.model(clips).numpy()
    for batch in (clips[:1], clips):  # the batch axis is dynamic
        (logits,) = session.run(["logits"], {"video": batch.numpy()})
        np.testing.assert_allclose(logits, expected[: len(batch)], atol=1e-4, rtol=1e-4)
    graph = onnx.load(str(result.model_path))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    embedded = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(embedded["motionfit"]) == json.loads(result.sidecar_path.read_text())


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_reloads_and_matches_pytorch(
    runs: dict[str, Path], real_videos_dir: Path, tmp_path: Path
) -> None:
    run = load_run(runs["motioncnn_tiny"])
    result = export_run(run, tmp_path / "model.pt", "torchscript")
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5
    extra = {"motionfit.json": ""}
    module = torch.jit.load(str(result.model_path), _extra_files=extra)
    assert json.loads(extra["motionfit.json"])["labels"] == list(run.labels.names)
    clips = real_clips(run, real_videos_dir / REAL_CLIP)
    with torch.no_grad():
        torch.testing.assert_close(module(clips), run.model(clips), atol=1e-5, rtol=1e-5)
    assert zipfile.is_zipfile(result.model_path)


def sidecar_preprocess(path: Path, pre: dict, shift: int = 0) -> np.ndarray:
    """A user's preprocessing from the sidecar alone (PyAV + torchvision, no motionfit):
    uniform clips, short-side resize, centre crop, normalization -> float32 [V, 3, T, S, S]."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    size, count = pre["crop_size"], pre["clips"]
    free = len(frames) - ((pre["num_frames"] - 1) * pre["frame_stride"] + 1)
    starts = [int(free * (k + 0.5) / count) for k in range(count)]  # as the sidecar says
    mean = np.asarray(pre["mean"], dtype=np.float32)[:, None, None, None]
    std = np.asarray(pre["std"], dtype=np.float32)[:, None, None, None]
    clips = []
    for start in starts:
        index = start + shift + np.arange(pre["num_frames"]) * pre["frame_stride"]
        clip = torch.from_numpy(frames[np.minimum(index, len(frames) - 1)]).permute(0, 3, 1, 2)
        clip = F.resize(clip, [pre["resize_short_side"]], antialias=True)
        top, left = round((clip.shape[-2] - size) / 2), round((clip.shape[-1] - size) / 2)
        clip = clip[..., top : top + size, left : left + size].permute(1, 0, 2, 3).numpy()
        clips.append((clip * pre["pixel_scale"] - mean) / std)
    return np.stack(clips).astype(np.float32)


def test_sidecar_is_enough_to_use_the_export_without_motionfit(
    runs: dict[str, Path], onnx_exports: dict[str, ExportResult], real_videos_dir: Path
) -> None:
    run = load_run(runs["motioncnn_tiny"])
    result = onnx_exports["motioncnn_tiny"]
    spec = json.loads(sidecar_path(result.model_path).read_text())
    assert spec["labels"] == list(run.labels.names)
    assert spec["input"]["shape"] == ["batch", 3, "frames", 32, 32]  # a CNN: any clip length
    assert spec["input"]["frames"] == "any number (trained on 8)"
    pre = spec["preprocess"]
    video = real_videos_dir / REAL_CLIP
    theirs = sidecar_preprocess(video, pre)
    dataset = VideoClipDataset(
        [VideoRecord(video, -1)], mode="eval", sampling=run.config.sampling,
        augment=run.config.augment, num_clips=pre["clips"],
    )  # fmt: skip
    ours = VideoNormalize.from_config(run.config.augment)(dataset[0]["video"]).numpy()
    assert theirs.shape == ours.shape
    grey_levels = np.abs(theirs - ours).mean() * 255 * pre["std"][0]
    shifted = np.abs(sidecar_preprocess(video, pre, shift=1) - ours).mean() * 255 * pre["std"][0]
    # the same frames and crop up to the resize filter (~3 grey levels); one frame off is not
    assert grey_levels < 5 and shifted > 2 * grey_levels
    session = onnxruntime.InferenceSession(str(result.model_path))
    (logits,) = session.run(["logits"], {"video": theirs})
    assert logits.shape == (pre["clips"], len(spec["labels"])) and np.isfinite(logits).all()


def test_cli_export(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.pt"
    code = run_cli(["export", str(runs["motioncnn_tiny"]), "--format", "torchscript",
                    "--out", str(out)])  # fmt: skip
    assert code == 0 and out.is_file() and sidecar_path(out).is_file()
    assert "max |logit difference| vs PyTorch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "{missing}", "--format", "onnx", "--out", "{out}"], "not found"),
        (["export", "{run}", "--format", "tflite", "--out", "{out}"], "'tflite' is not one of"),
        (["export", "{run}", "--format", "onnx"], "Missing option '--out'"),
    ],
)
def test_cli_export_user_errors_exit_2_with_one_line(
    args: list[str],
    message: str,
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    values = {"run": runs["motioncnn_tiny"], "missing": tmp_path / "nope", "out": tmp_path / "x"}
    code = run_cli([a.format(**values) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_lower_precisions_are_smaller_and_close_on_real_clips(
    runs: dict[str, Path],
    onnx_exports: dict[str, ExportResult],
    real_videos_dir: Path,
    tmp_path: Path,
    precision: str,
) -> None:
    for model, run_dir in runs.items():
        run = load_run(run_dir)
        result = export_run(run, tmp_path / f"{model}.onnx", "onnx", precision=precision)
        spec = json.loads(result.sidecar_path.read_text())
        assert spec["precision"] == precision and result.precision == precision
        embedded = onnx.load(str(result.model_path)).metadata_props
        assert json.loads({p.key: p.value for p in embedded}["motionfit"]) == spec
        full = onnx_exports[model].model_path.stat().st_size
        assert result.model_path.stat().st_size < (0.6 if precision == "fp16" else 0.4) * full
        clips = real_clips(run, real_videos_dir / REAL_CLIP)
        with torch.inference_mode():
            expected = run.model(clips).softmax(-1).numpy()
        session = onnxruntime.InferenceSession(str(result.model_path))
        (logits,) = session.run(["logits"], {"video": clips.numpy()})
        got = torch.from_numpy(logits).softmax(-1).numpy()
        assert got.dtype == np.float32 and np.abs(got - expected).max() < 0.02  # measured ~1e-5


def test_a_cnn_export_takes_any_clip_length(
    runs: dict[str, Path], onnx_exports: dict[str, ExportResult]
) -> None:
    cnn, vit = (json.loads(onnx_exports[m].sidecar_path.read_text()) for m in runs)
    assert cnn["input"]["shape"][2] == "frames" and vit["input"]["shape"][2] == 8
    run = load_run(runs["motioncnn_tiny"])
    longer = torch.randn(2, 3, 20, 32, 32, generator=torch.Generator().manual_seed(3))
    session = onnxruntime.InferenceSession(str(onnx_exports["motioncnn_tiny"].model_path))
    (logits,) = session.run(["logits"], {"video": longer.numpy()})
    with torch.inference_mode():
        assert np.abs(logits - run.model(longer).numpy()).max() < 1e-4


def test_torchscript_is_fp32_only(runs: dict[str, Path], tmp_path: Path) -> None:
    from motionfit.errors import ModelError

    run = load_run(runs["motioncnn_tiny"])
    with pytest.raises(ModelError, match="--precision fp16 is for ONNX"):
        export_run(run, tmp_path / "m.pt", "torchscript", precision="fp16")
