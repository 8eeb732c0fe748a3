"""HuggingFace export (issue 21 item 4): a run as a ``save_pretrained`` folder that transformers
loads and that gives motionfit's logits, its processor config, and a model card from the run;
a motionfit folder for families transformers has no class for; heads transformers' class cannot
compute are refused. Everything offline: tiny models trained a few steps here."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from run_fixtures import MODEL_SIZES, make_run, make_videos, run_cli
from safetensors import safe_open

from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.records import read_records
from motionfit.data.transforms import VideoNormalize
from motionfit.errors import ModelError
from motionfit.evaluation import evaluate_run
from motionfit.hf_export import HF_LAYOUTS, PREPROCESSING_FILE, HFExportResult, export_hf
from motionfit.model_card import PLACEHOLDER, VIDEO_PLACEHOLDER, model_card_text
from motionfit.models.build import build_model_from_config
from motionfit.run import LoadedRun, load_run, read_metrics
from motionfit.train.balance import CLASS_BALANCE_FILE, write_class_balance

# tiny size of each transformers family (run_fixtures.MODEL_SIZES lacks the last two)
HF_MODELS = {"videomae_tiny": 64, "timesformer_tiny": 64, "vjepa2_tiny": 64, "videoprism_tiny": 72}
PROCESSORS = {
    "videomae_tiny": "VideoMAEImageProcessor",
    "timesformer_tiny": "VideoMAEImageProcessor",
    "vjepa2_tiny": "VJEPA2VideoProcessor",
    "videoprism_tiny": "LlavaOnevisionVideoProcessor",
}
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 4 real h264 clips."""
    return make_videos(tmp_path_factory.mktemp("videos"))


def _trained_run(root: Path, videos: Path, model: str, extra: list[str] = ()) -> LoadedRun:
    """A run of ``model`` trained 2 steps, with a class balance and a test evaluation with the
    motion-reliance diagnostics (what a finished ``motionfit train`` leaves)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, size in HF_MODELS.items():
            patch.setitem(MODEL_SIZES, name, size)
        run = load_run(make_run(root, videos, model=model, train_steps=2, extra=extra))
    records, _ = read_records(videos, labels=run.labels)
    counts = torch.bincount(torch.tensor([r.label for r in records]), minlength=len(run.labels))
    write_class_balance(root / CLASS_BALANCE_FILE, run.labels.names, counts, None, False)
    evaluate_run(run, records, diagnose=True, num_workers=0, data_name="synthetic test")
    return run


@pytest.fixture(scope="module")
def exports(
    tmp_path_factory: pytest.TempPathFactory, videos: Path
) -> dict[str, tuple[LoadedRun, HFExportResult]]:
    """Each transformers family's run and a 3-D CNN's (no transformers class), exported."""
    out = {}
    for name in [*HF_MODELS, "motioncnn_tiny"]:
        root = tmp_path_factory.mktemp(name)
        run = _trained_run(root / "run", videos, name)
        out[name] = (run, export_hf(run, root / "hf"))
    return out


def _decoded_clips(run: LoadedRun, videos: Path, count: int = 4) -> torch.Tensor:
    """Normalized ``[count, 3, T, S, S]`` clips decoded from real files by motionfit's eval
    pipeline (one centred view each)."""
    records, _ = read_records(videos, labels=run.labels)
    cfg = run.config
    dataset = VideoClipDataset(
        records[::3][:count], mode="eval", sampling=cfg.sampling, augment=cfg.augment
    )
    batch = collate_clips([dataset[i] for i in range(len(dataset))])
    return VideoNormalize.from_config(cfg.augment)(batch["video"][:, 0])


def _card_snippet(card: str) -> str:
    return re.search(r"```python\n(.*?)```", card, re.S).group(1)


@pytest.mark.parametrize("name", HF_MODELS)
def test_transformers_loads_the_folder_with_motionfits_logits(
    exports: dict[str, tuple[LoadedRun, HFExportResult]], videos: Path, name: str
) -> None:
    from transformers import AutoModelForVideoClassification

    run, result = exports[name]
    layout = HF_LAYOUTS[run.model.family]
    assert result.architecture == layout.architecture
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5
    model = AutoModelForVideoClassification.from_pretrained(result.out).eval()
    assert type(model).__name__ == layout.architecture
    assert model.config.id2label == dict(enumerate(run.labels.names))
    assert model.config.label2id == {name: i for i, name in enumerate(run.labels.names)}
    clips = _decoded_clips(run, videos)
    with torch.inference_mode():
        expected = run.model(clips)
        got = model(**{layout.input_name: clips.permute(0, 2, 1, 3, 4)}).logits
    assert got.shape[0] == clips.shape[0] and got.shape[-1] == len(run.labels)
    scale = float(expected.abs().max())
    torch.testing.assert_close(got.reshape(expected.shape), expected, rtol=RELATIVE,
                               atol=RELATIVE * scale)  # fmt: skip


@pytest.mark.parametrize("name", HF_MODELS)
def test_the_processor_config_is_the_runs_eval_transform(
    exports: dict[str, tuple[LoadedRun, HFExportResult]], name: str
) -> None:
    from transformers import AutoImageProcessor, AutoVideoProcessor

    run, result = exports[name]
    auto = AutoImageProcessor if PROCESSORS[name].endswith("ImageProcessor") else AutoVideoProcessor
    processor = auto.from_pretrained(result.out)
    augment = run.config.augment
    assert type(processor).__name__ == PROCESSORS[name]
    assert processor.size.shortest_edge == augment.resolved_short_side()
    assert processor.crop_size.height == processor.crop_size.width == augment.crop_size
    assert tuple(processor.image_mean) == pytest.approx(augment.mean)
    assert tuple(processor.image_std) == pytest.approx(augment.std)
    assert processor.rescale_factor == pytest.approx(1 / 255)
    frames = torch.randint(0, 256, (run.config.sampling.num_frames, 40, 50, 3), dtype=torch.uint8)
    inputs = processor(list(frames.numpy()), return_tensors="pt")
    shape = [1, run.config.sampling.num_frames, 3, augment.crop_size, augment.crop_size]
    assert list(inputs[HF_LAYOUTS[run.model.family].input_name].shape) == shape


@pytest.mark.parametrize("name", HF_MODELS)
def test_the_card_describes_the_run_and_its_loading_snippet_runs(
    exports: dict[str, tuple[LoadedRun, HFExportResult]], videos: Path, name: str
) -> None:
    run, result = exports[name]
    card = (result.out / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "library_name: transformers" in front
    assert "pipeline_tag: video-classification" in front
    assert f"- {run.config.model.name}" in front
    test = json.loads((run.paths.root / "eval" / "metrics.json").read_text())
    best_val = max(row["val_top1"] for row in read_metrics(run.paths.metrics))
    assert f"Best validation top-1: **{best_val:.1%}**" in card
    assert f"| top-1 | {test['top1']:.1%} |" in card
    assert test["diagnostics_reading"] in card
    assert f"| {run.labels.names[0]} | 4 | 33% |" in card  # class_balance.csv
    assert f"{run.config.sampling.num_frames} frames, frame stride 2" in card
    assert "It does not reproduce" in card and "frame sampling" in card
    spec = json.loads((result.out / PREPROCESSING_FILE).read_text())
    assert spec["input"]["name"] == HF_LAYOUTS[run.model.family].input_name
    assert spec["labels"] == list(run.labels.names)
    printed = _run_snippet(card, result.out, next(videos.rglob("*.mp4")))
    assert printed in run.labels.names


def test_a_family_without_transformers_class_gets_a_motionfit_folder(
    exports: dict[str, tuple[LoadedRun, HFExportResult]], videos: Path
) -> None:
    run, result = exports["motioncnn_tiny"]
    assert result.architecture is None and result.max_abs_diff == 0.0
    assert {p.name for p in result.files} == {
        "README.md", "model.safetensors", "config.yaml", "labels.txt", PREPROCESSING_FILE,
    }  # fmt: skip
    with safe_open(str(result.out / "model.safetensors"), "pt") as handle:
        assert json.loads(handle.metadata()["motionfit.classes"]) == list(run.labels.names)
    card = (result.out / "README.md").read_text()
    assert "library_name: motionfit" in card and "load_run" in card
    assert "config.json" not in {p.name for p in result.out.iterdir()}
    printed = _run_snippet(card, result.out, next(videos.rglob("*.mp4")))
    assert printed.split()[0] in run.labels.names


def test_the_card_warns_when_the_model_reads_appearance(
    exports: dict[str, tuple[LoadedRun, HFExportResult]],
) -> None:
    run, _ = exports["motioncnn_tiny"]
    metrics_file = run.paths.root / "eval" / "metrics.json"
    real = metrics_file.read_text()
    metrics = json.loads(real) | {"diagnostics_meaningful": True, "diagnostics_caveat": None}
    metrics["diagnostics"]["frozen"]["agreement"] = 0.9
    try:
        metrics_file.write_text(json.dumps(metrics))
        card = model_card_text(run, None)
    finally:
        metrics_file.write_text(real)
    assert "It relies on appearance: on frozen clips (no motion) it keeps 90%" in card


def test_a_hidden_layer_in_the_head_is_refused(tmp_path: Path, videos: Path) -> None:
    run = load_run(make_run(tmp_path / "run", videos, model="videomae_tiny",
                            extra=["model.hidden_dim=16"]))  # fmt: skip
    with pytest.raises(ModelError, match=r"^model\.hidden_dim=16: .*VideoMAEForVideo"):
        export_hf(run, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()  # a refused export writes nothing


@pytest.mark.parametrize("name", ["vjepa2_tiny", "videoprism_tiny"])
def test_mean_pooling_where_transformers_pools_attentively_is_refused(
    tmp_path: Path, exports: dict[str, tuple[LoadedRun, HFExportResult]], name: str
) -> None:
    run, _ = exports[name]
    config = run.config.model_copy(deep=True)
    config.model.head = "linear"
    mean_pooled = build_model_from_config(config, len(run.labels), drop_path=0.0).eval()
    linear = dataclasses.replace(run, config=config, model=mean_pooled)
    with pytest.raises(ModelError, match=r"^model\.head=linear: "):
        export_hf(linear, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_a_learned_videomae_position_table_is_refused(
    tmp_path: Path, exports: dict[str, tuple[LoadedRun, HFExportResult]]
) -> None:
    run, _ = exports["videomae_tiny"]
    learned = dataclasses.replace(run, model=_copy_with_learned_table(run))
    with pytest.raises(ModelError, match=r"has no place for videomae\.embeddings\.position"):
        export_hf(learned, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_a_second_export_replaces_the_first_layout(
    tmp_path: Path, exports: dict[str, tuple[LoadedRun, HFExportResult]]
) -> None:
    export_hf(exports["motioncnn_tiny"][0], tmp_path, verify=False)
    result = export_hf(exports["videomae_tiny"][0], tmp_path, verify=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert "config.yaml" not in names and "labels.txt" not in names
    assert {p.name for p in result.files} == names


def _copy_with_learned_table(run: LoadedRun) -> torch.nn.Module:
    model = build_model_from_config(run.config, len(run.labels), drop_path=0.0)
    model.load_state_dict(run.model.state_dict())
    grid = 4 * 4 * 4  # 8 frames / 2 x (64 px / 16)^2 tubelets
    model.set_position_table(torch.randn(1, grid, model.config.hidden_size))
    return model.eval()


def _run_snippet(card: str, folder: Path, video: Path) -> str:
    """Run the card's Python snippet on ``folder`` and ``video``; what it printed."""
    code = (
        _card_snippet(card)
        .replace(f'"{PLACEHOLDER}"', repr(str(folder)))
        .replace(f'"{VIDEO_PLACEHOLDER}"', repr(str(video)))
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    return printed.getvalue().strip()


def test_load_run_keeps_a_learned_videomae_position_table(
    tmp_path: Path, exports: dict[str, tuple[LoadedRun, HFExportResult]]
) -> None:
    """A run whose VideoMAE learned its position table (weights loaded with one) evaluates,
    predicts and exports with that table, not the built-in sinusoid it would silently keep."""
    from safetensors.torch import save_file

    from motionfit.run import load_run

    run, _ = exports["videomae_tiny"]
    learned = _copy_with_learned_table(run)
    root = tmp_path / "run"
    shutil.copytree(run.paths.root, root)
    weights = {k: v.contiguous() for k, v in learned.state_dict().items()}
    save_file(weights, str(root / "model.safetensors"))
    clip = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.allclose(load_run(root).model(clip), learned(clip), atol=1e-5)


def test_cli_export_hf_writes_a_folder_transformers_loads(
    tmp_path: Path,
    exports: dict[str, tuple[LoadedRun, HFExportResult]],
    capsys: pytest.CaptureFixture,
) -> None:
    from transformers import AutoModelForVideoClassification

    run, _ = exports["videomae_tiny"]
    out = tmp_path / "hf"
    argv = ["export", str(run.paths.root), "--format", "hf", "--out", str(out)]
    assert run_cli(argv) == 0
    assert "VideoMAEForVideoClassification" in capsys.readouterr().out
    loaded = AutoModelForVideoClassification.from_pretrained(out)
    assert loaded.config.id2label == dict(enumerate(run.labels.names))
    assert run_cli(argv) == 0  # a second export replaces its own folder
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert run_cli([*argv[:-1], str(foreign)]) == 2  # a folder of other files needs --force
    assert "--force" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
    for extra in (["--precision", "int8"], ["--push", "me/model"]):
        wrong = argv if extra[0] == "--precision" else [*argv[:4], "onnx", "--out", "m.onnx"]
        assert run_cli([*wrong, *extra, "--force"]) == 2
