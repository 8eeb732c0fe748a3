"""Classifier heads transfer by class name: runs (model.safetensors metadata, labels.txt),
HuggingFace folders (config.json id2label), torchvision enums (meta["categories"]); sources
without names keep rows by position only when the counts match, and say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import pytest
import torch
import torchvision
from run_fixtures import make_run, make_videos
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import VideoMAEForVideoClassification

from motionfit.config import load_config
from motionfit.data.records import LabelMap
from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.build import build_model
from motionfit.models.head import HeadSpec
from motionfit.models.weights import (
    CLASSES_METADATA,
    hub_cache_path,
    match_class_names,
    read_class_names,
    save_load_report,
)
from motionfit.run import load_run
from motionfit.train.fit import train
from motionfit.train.runner import export_weights

CLIP = "kinetics_armwrestling_340x256_28fps.mp4"


@pytest.fixture(scope="module")
def frames(real_videos_dir: Path) -> np.ndarray:
    """The first 8 frames of a real Kinetics clip at 64x64, RGB ``[T, H, W, 3]``."""
    with av.open(str(real_videos_dir / CLIP)) as container:
        decoded = zip(range(8), container.decode(video=0), strict=False)
        return np.stack([f.to_ndarray(format="rgb24", width=64, height=64) for _, f in decoded])


def clip(frames: np.ndarray, size: int) -> torch.Tensor:
    """The real frames as a normalized float batch ``[1, 3, 8, size, size]``."""
    video = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255
    video = torch.nn.functional.interpolate(video, size=(size, size), mode="area")
    return ((video - 0.45) / 0.225).unsqueeze(0)


def logits(model: torch.nn.Module, video: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(video)


def randomize_bias(model: VideoClassifier) -> None:
    """Non-zero classifier biases, so that a wrong bias row shows in the logits."""
    with torch.no_grad():
        cast(nn.Linear, model.head.layers[-1]).bias.normal_()


def write_run(root: Path, model: torch.nn.Module, names: list[str]) -> Path:
    """A run directory as ``motionfit train`` leaves it: labels.txt, checkpoints/best.ckpt
    (Lightning layout) and model.safetensors written by ``export_weights``."""
    (root / "checkpoints").mkdir(parents=True)
    LabelMap.from_names(names).save(root / "labels.txt")
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 1}, root / "checkpoints" / "best.ckpt")
    return export_weights(root / "checkpoints" / "best.ckpt", root / "model.safetensors")


# ---------------------------------------------------------------------------------------------
# motionfit runs


@pytest.mark.parametrize("hidden_dim", [0, 16])
@pytest.mark.parametrize("weights", ["model.safetensors", "checkpoints/best.ckpt"])
def test_same_classes_in_another_order_give_permuted_logits(
    frames: np.ndarray, tmp_path: Path, hidden_dim: int, weights: str
) -> None:
    head = HeadSpec(hidden_dim=hidden_dim)
    torch.manual_seed(0)
    source = build_model("motioncnn_tiny", 4, 8, 32, head=head, class_names=list("abcd"))
    randomize_bias(source)
    write_run(tmp_path / "run", source, list("abcd"))
    with safe_open(str(tmp_path / "run" / "model.safetensors"), "pt") as handle:
        assert json.loads(handle.metadata()[CLASSES_METADATA]) == list("abcd")

    target = build_model("motioncnn_tiny", 4, 8, 32, pretrained=str(tmp_path / "run" / weights),
                         head=head, class_names=list("dbac"))  # fmt: skip
    video = clip(frames, 32)
    assert torch.equal(logits(target, video), logits(source, video)[:, [3, 1, 0, 2]])
    report = target.load_report
    assert report is not None and report.head_classes is not None
    assert report.head_classes.matched_by == "name" and report.head_classes.kept == list("dbac")
    assert not report.new_head and not report.new and not report.missing
    assert "head: kept 4 by name" in report.to_text() and "head: kept 4" in report.summary()
    if hidden_dim:
        assert torch.equal(target.head.layers[1].weight, source.head.layers[1].weight)


def test_init_from_a_run_whose_classes_are_reordered(tmp_path: Path) -> None:
    """``train --init-from RUN`` on data listing the same classes in another order: the rows
    follow the names (the source is an older run: names from its labels.txt)."""
    data = make_videos(tmp_path / "data", classes=4, per_class=2)
    names = LabelMap.load(data / "labels.txt").names
    source = make_run(tmp_path / "source", data)
    reordered = make_videos(tmp_path / "reordered", classes=4, per_class=2)
    LabelMap.from_names(names[::-1]).save(reordered / "labels.txt")
    config = load_config("demo", [
        f"data.source={reordered}", "data.num_workers=0", "train.batch_size=4",
        "train.accelerator=cpu", "train.devices=1", "train.max_steps=1", "eval.batch_size=4",
    ])  # fmt: skip
    train(config, tmp_path / "run", init_from=source, progress=False)

    report = json.loads((tmp_path / "run" / "load_report.json").read_text())
    assert report["head_classes"] == {
        "matched_by": "name", "kept": list(names[::-1]), "new": [], "dropped": [], "note": "",
    }  # fmt: skip
    assert report["counts"]["new"] == 0
    assert "head: kept 4 by name" in (tmp_path / "run" / "load_report.txt").read_text()
    assert read_class_names(tmp_path / "run" / "model.safetensors") == names[::-1]
    assert load_run(tmp_path / "run").model.class_names == names[::-1]


def test_source_without_names_keeps_rows_by_position_and_says_so(
    frames: np.ndarray, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    source = build_model("motioncnn_tiny", 4, 8, 32)
    randomize_bias(source)
    save_file(source.state_dict(), str(tmp_path / "bare.safetensors"))
    assert read_class_names(tmp_path / "bare.safetensors") is None

    same = build_model("motioncnn_tiny", 4, 8, 32, pretrained=str(tmp_path / "bare.safetensors"),
                       class_names=list("wxyz"))  # fmt: skip
    video = clip(frames, 32)
    assert torch.equal(logits(same, video), logits(source, video))
    text = "head: kept 4 by position: the source names no classes"
    assert same.load_report is not None and not same.load_report.new_head
    assert text in same.load_report.to_text() and text in same.load_report.summary()

    other = build_model("motioncnn_tiny", 3, 8, 32, pretrained=str(tmp_path / "bare.safetensors"),
                        class_names=list("xyz"))  # fmt: skip
    assert other.load_report is not None and other.load_report.head_classes is None
    assert other.load_report.new_head and "new head" in other.load_report.summary()


def test_names_beside_the_weights_must_fit_the_head(tmp_path: Path) -> None:
    save_file(build_model("motioncnn_tiny", 4, 8, 32).state_dict(), str(tmp_path / "w.safetensors"))
    LabelMap.from_names(list("abc")).save(tmp_path / "labels.txt")
    with pytest.raises(ModelError, match="names 3 classes, but its classifier has 4 rows"):
        build_model("motioncnn_tiny", 4, 8, 32, pretrained=str(tmp_path / "w.safetensors"),
                    class_names=list("abcd"))  # fmt: skip


def test_name_matching_is_exact_then_tolerant_of_case_spaces_and_underscores() -> None:
    source = ["Run", "run", "riding a bike", "Jump  High", "A b", "a_b"]
    target = ["run", "RUN", "riding_a_bike", "jump_high", "a B", "walk"]
    # "a B" loosely matches both "A b" and "a_b": not guessed
    assert match_class_names(source, target) == [1, 0, 2, 3, None, None]


# ---------------------------------------------------------------------------------------------
# HuggingFace folders and torchvision weights


def save_hf_folder(model: VideoClassifier, folder: Path, id2label: dict[int, str]) -> None:
    """``model`` (a videomae_tiny) written by transformers' ``save_pretrained``."""
    own: Any = model.config
    config = type(own)(**{**own.to_dict(), "id2label": id2label})
    hf_model = VideoMAEForVideoClassification(config)
    state = {k.replace("head.layers.1.", "classifier."): v for k, v in model.state_dict().items()}
    hf_model.load_state_dict(state, strict=True)
    hf_model.save_pretrained(folder)


def test_hf_folder_rows_follow_its_id2label(frames: np.ndarray, tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = build_model("videomae_tiny", 4, 8, 64)
    randomize_bias(source)
    save_hf_folder(source, tmp_path / "hf", {0: "run", 1: "Sit", 2: "stand up", 3: "walk"})

    ours = ["jump", "sit", "run", "stand_up", "wave"]
    target = build_model("videomae_tiny", 5, 8, 64, pretrained=str(tmp_path / "hf"),
                         class_names=ours)  # fmt: skip
    video = clip(frames, 64)
    kept = logits(target, video)[:, [1, 2, 3]]
    assert torch.allclose(kept, logits(source, video)[:, [1, 0, 2]], atol=1e-6)
    report = target.load_report
    assert report is not None and report.new_head and not report.missing
    line = "head: kept 3 by name; new 2: jump, wave; dropped 1: walk"
    assert line in report.to_text() and line in report.summary()
    save_load_report(report, tmp_path)
    assert json.loads((tmp_path / "load_report.json").read_text())["head_classes"] == {
        "matched_by": "name", "kept": ["sit", "run", "stand_up"], "new": ["jump", "wave"],
        "dropped": ["walk"], "note": "",
    }  # fmt: skip
    assert line in (tmp_path / "load_report.txt").read_text()


def test_hf_placeholder_labels_name_no_classes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_hf_folder(build_model("videomae_tiny", 3, 8, 64), tmp_path / "hf",
                   {i: f"LABEL_{i}" for i in range(3)})  # fmt: skip
    target = build_model("videomae_tiny", 3, 8, 64, pretrained=str(tmp_path / "hf"),
                         class_names=list("xyz"))  # fmt: skip
    assert target.load_report is not None and not target.load_report.new_head
    assert "kept 3 by position: the source names no classes" in target.load_report.to_text()


def test_torchvision_categories_map_kinetics_rows_by_name(
    frames: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    weights = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1
    torch.manual_seed(0)
    reference = torchvision.models.video.r2plus1d_18().eval()
    hub_cache_path(weights.url).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), hub_cache_path(weights.url))

    ours = ["riding_a_bike", "Abseiling", "juggling pianos"]
    model = build_model("r2plus1d_18", 3, 8, 64, pretrained="KINETICS400_V1", class_names=ours)
    categories = weights.meta["categories"]
    rows = [categories.index("riding a bike"), categories.index("abseiling")]
    video = clip(frames, 64)
    assert torch.allclose(logits(model, video)[:, :2], logits(reference, video)[:, rows])
    report = model.load_report
    assert report is not None and report.head_classes is not None
    assert len(report.head_classes.dropped) == 398
    assert "head: kept 2 by name; new 1: juggling pianos; dropped 398: " in report.to_text()

    unnamed = build_model("r2plus1d_18", 400, 8, 64, pretrained="KINETICS400_V1")
    assert unnamed.load_report is not None and not unnamed.load_report.new_head
    assert "kept 400 by position: the model names no classes" in unnamed.load_report.summary()
