"""Model cards (measured parameters and FLOPs, from the registry), the recommendation logic, and
the ``motionfit models`` / ``motionfit recommend`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
import typer
from typer.testing import CliRunner

from motionfit.cli import models_cmd
from motionfit.config import load_config
from motionfit.errors import ModelError
from motionfit.models import cards as cards_module
from motionfit.models.cards import ModelCard, count_flops, measure_cost, model_cards
from motionfit.models.head import HeadSpec
from motionfit.models.recommend import (
    SCARCE_VIDEOS,
    format_recommendation,
    max_batch,
    recommend,
)
from motionfit.models.registry import get_spec, list_specs


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: on 2 shared cores, more threads spin and run ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private cost cache (MOTIONFIT_CACHE), filled once for the module."""
    folder = tmp_path_factory.mktemp("motionfit-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTIONFIT_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def cards(cache: Path) -> dict[str, ModelCard]:
    """Every card, measured once."""
    return {card.name: card for card in model_cards()}


def _card(name: str, family: str, params_m: float, gflops: float, **kw: object) -> ModelCard:
    fields = {
        "frames": 16,
        "size": 224,
        "frame_multiple": 2,
        "pretrained": (),
        "use_if": f"{name} advice",
        "recipe": None,
        "tiny": False,
    }
    fields.update(kw)
    return ModelCard(name=name, family=family, params_m=params_m, gflops=gflops, **fields)


ZOO = [
    _card("videomae_b", "videomae", 86.5, 360.7),
    _card("videomae_l", "videomae", 304.3, 1193.7),
    _card("swin3d_t", "swin", 28.2, 175.5, frames=32, recipe="swin3d_t"),
    _card("swin3d_b", "swin", 88.0, 562.7, frames=32, recipe="swin3d_b"),
    _card("mvit_v2_s", "mvit", 34.5, 128.4, recipe="mvit_v2_s"),
    _card("r2plus1d_18", "cnn", 31.5, 81.0, size=112, frame_multiple=1, recipe="r2plus1d_18"),
    _card("swin3d_tiny", "swin", 1.4, 0.15, tiny=True),
]


# ---------------------------------------------------------------------------------------------
# cards


def test_cards_come_from_the_registry(cards: dict[str, ModelCard]) -> None:
    assert list(cards) == [spec.name for spec in list_specs()]
    for spec in list_specs():
        card = cards[spec.name]
        assert (card.family, card.frames, card.size) == (
            spec.family,
            spec.default_frames,
            spec.default_size,
        )
        assert card.pretrained == spec.pretrained and card.use_if == spec.use_if
        assert card.params_m > 0 and card.gflops > 0


@pytest.mark.parametrize("name", ["swin3d_t", "mvit_v2_s", "mvit_v1_b", "r2plus1d_18"])
def test_measured_costs_match_torchvision_metadata(name: str, cards: dict[str, ModelCard]) -> None:
    """torchvision lists each model's parameters (400-class head) and GMACs ("_ops") of a
    16-frame clip; our FLOPs are 2 x MACs, and linear in frames for these models."""
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    card = cards[name]
    assert card.params_m == pytest.approx(meta["num_params"] / 1e6, abs=0.01)
    assert card.gflops == pytest.approx(2 * meta["_ops"] * card.frames / 16, rel=1e-3)


def test_meta_and_cpu_counts_agree_on_a_tiny_model() -> None:
    spec = get_spec("mvit_tiny")
    on_meta = measure_cost(spec)
    model = spec.builder(400, spec.default_frames, spec.default_size, HeadSpec(), 0.0)
    video = torch.randn(1, 3, spec.default_frames, spec.default_size, spec.default_size)
    on_cpu = (sum(p.numel() for p in model.parameters()), count_flops(model.eval(), video))
    assert on_meta == on_cpu


def test_flop_count_includes_fused_attention() -> None:
    class Attention(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(x, x, x)

    batch, heads, tokens, dim = 2, 3, 10, 8
    flops = count_flops(Attention(), torch.randn(batch, heads, tokens, dim))
    assert flops == 2 * 2 * batch * heads * tokens * tokens * dim  # QK^T and AV, 2 FLOPs/MAC


def test_costs_are_cached(
    cards: dict[str, ModelCard], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (cache / "model_costs.json").is_file()

    def fail(spec: object) -> tuple[int, int]:
        raise AssertionError("measured again despite the cache")

    monkeypatch.setattr(cards_module, "measure_cost", fail)
    again = {card.name: card for card in model_cards()}
    assert again == cards
    with pytest.raises(AssertionError, match="measured again"):
        model_cards(use_cache=False)


# ---------------------------------------------------------------------------------------------
# recommendation logic


def test_memory_rule_of_thumb() -> None:
    card = _card("m", "swin", params_m=100.0, gflops=100.0)
    # static 1 GB + 100 M x 16 B = 2.6 GB; one 16-frame clip 1.2 GB; usable 0.9 x 10 GB
    assert max_batch(card, 16, 10.0) == 5
    assert max_batch(card, 32, 10.0) == 2  # twice the frames, twice the activations
    assert max_batch(card, 16, 2.0) == 0


def test_accuracy_with_scarce_data_pretrains_videomae_first() -> None:
    rec = recommend(200, 16, 24.0, "accuracy", data="videos/", cards=ZOO)
    assert rec.model == "videomae_b"  # videomae_l needs more data
    assert "best accuracy" in rec.reason and "videomae_l" in rec.reason
    assert len(rec.commands) == 2
    pretrain, train = rec.commands
    assert pretrain.startswith("motionfit pretrain") and "--data UNLABELED_VIDEOS" in pretrain
    assert "--init-from runs/videomae_b-pretrain" in train and "--data videos/" in train
    assert any("pretrain VideoMAE" in note for note in rec.notes)


def test_accuracy_with_large_data_and_gpu_takes_the_largest_model() -> None:
    rec = recommend(50_000, 16, 80.0, "accuracy", cards=ZOO)
    assert rec.model == "videomae_l" and rec.commands[0].startswith("motionfit train")
    assert rec.notes == ()


def test_stability_picks_video_swin_t_with_its_recipe() -> None:
    rec = recommend(5000, 32, 24.0, "stability", data="videos/", cards=ZOO)
    assert (rec.model, rec.recipe, rec.frames, rec.batch_size, rec.accumulate) == (
        "swin3d_t",
        "swin3d_t",
        32,
        8,
        1,
    )
    assert rec.commands == ("motionfit train --config swin3d_t --data videos/ --out runs/swin3d_t",)
    assert "32-frame" in rec.reason


def test_speed_falls_back_to_the_cnn_on_a_small_gpu() -> None:
    rec = recommend(3000, 16, 4.0, "speed", cards=ZOO)
    assert rec.model == "r2plus1d_18"
    assert "no X3D model" in rec.reason  # X3D ranks first for speed, MViT second
    assert rec.batch_size * rec.accumulate >= 24  # the recipe's batch, reached by accumulation
    assert "--set train.accumulate=" in rec.commands[0]


def test_scarce_data_warns_for_other_families_and_frames_are_rounded() -> None:
    rec = recommend(SCARCE_VIDEOS - 1, 15, 16.0, "speed", cards=ZOO)
    assert rec.model == "mvit_v2_s" and rec.frames == 16
    assert any("expect overfitting" in note for note in rec.notes)
    assert len(rec.commands) == 1
    rec8 = recommend(5000, 8, 16.0, "speed", cards=ZOO)
    assert any("reference clip is 16 frames" in note for note in rec8.notes)
    assert "--set sampling.num_frames=8" in rec8.commands[0]


def test_nothing_fits_says_so() -> None:
    rec = recommend(1000, 16, 1.0, "accuracy", cards=ZOO)
    assert rec.model == "r2plus1d_18" and rec.batch_size == 1
    assert any("does not fit" in note for note in rec.notes)


def test_invalid_requests_are_errors() -> None:
    with pytest.raises(ModelError, match="priority"):
        recommend(100, 16, 8.0, "cheapest", cards=ZOO)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="positive"):
        recommend(0, 16, 8.0, "speed", cards=ZOO)
    with pytest.raises(ModelError, match="no full-size"):
        recommend(100, 16, 8.0, "speed", cards=[ZOO[-1]])
    for classes in (0, 1, 101):
        with pytest.raises(ModelError, match="classes"):
            recommend(100, 16, 8.0, "speed", cards=ZOO, classes=classes)


# ---------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    models_cmd.register(root)
    return root


def test_models_json_lists_the_registry(app: typer.Typer, cards: dict[str, ModelCard]) -> None:
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == [spec.name for spec in list_specs()]
    swin = next(row for row in rows if row["name"] == "swin3d_t")
    assert swin["gflops"] == cards["swin3d_t"].gflops and swin["frames"] == 32
    assert swin["pretrained"] == ["torchvision:KINETICS400_V1"]


def test_models_table_explains_flops(
    app: typer.Typer, cards: dict[str, ModelCard], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_cmd.console, "width", 240)
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "2 x multiply-adds" in result.output
    for name in ("swin3d_t", "mvit_v2_s", "r2plus1d_18", "swin3d_tiny (tiny)"):
        assert name in result.output
    assert f"{cards['mvit_v2_s'].gflops:.1f}" in result.output
    help_text = CliRunner().invoke(app, ["models", "--help"], env={"COLUMNS": "240"}).output
    assert "2 x multiply-adds" in help_text


def test_recommend_prints_model_reason_and_command(
    app: typer.Typer, cards: dict[str, ModelCard]
) -> None:
    args = ["recommend", "--labeled-videos", "5000", "--frames", "32", "--gpu-memory", "24"]
    result = CliRunner().invoke(app, [*args, "--priority", "stability", "--data", "clips/"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Start from: swin3d_t (swin), recipe swin3d_t")
    assert "Why: Video Swin" in result.output and "estimate" in result.output
    assert "motionfit train --config swin3d_t --data clips/ --out runs/swin3d_t" in result.output
    expected = recommend(5000, 32, 24.0, "stability", data="clips/")
    assert result.output.strip() == format_recommendation(expected)
    bad = CliRunner().invoke(app, [*args, "--priority", "cheapest"])
    assert bad.exit_code != 0


def test_recommend_takes_the_number_of_classes_without_data(app: typer.Typer) -> None:
    """--classes sets labeled videos per class (probe / LoRA / full fine-tuning) with no
    data at hand; without it the advice says which class count it assumed."""
    base = ["recommend", "--labeled-videos", "200", "--gpu-memory", "40", "--data", "clips/"]
    outputs = {}
    for classes in (20, 2):
        result = CliRunner().invoke(app, [*base, "--classes", str(classes)])
        assert result.exit_code == 0, result.output
        expected = recommend(200, 16, 40.0, "accuracy", data="clips/", classes=classes)
        assert result.output.strip() == format_recommendation(expected)
        outputs[classes] = result.output
    assert "Or (probe): ~10 labeled videos per class is too little" in outputs[20]
    assert "Or (lora): ~100 labeled videos per class:" in outputs[2]
    assumed = CliRunner().invoke(app, base)
    assert assumed.exit_code == 0, assumed.output
    assert "~20 labeled videos per class (if there are 10 classes; give --classes)" in (
        " ".join(assumed.output.split())
    )
    plenty = CliRunner().invoke(app, [*base[:2], "2000", *base[3:], "--classes", "2"])
    assert plenty.exit_code == 0 and "Or (" not in plenty.output  # 1000 per class: full
    help_text = " ".join(CliRunner().invoke(app, ["recommend", "--help"]).output.split())
    assert "--classes" in help_text and "never read" in help_text


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--classes", "1"], ["--classes", "2"]),
        (["--classes", "0"], ["--classes", "2"]),
        (["--classes", "50", "--labeled-videos", "20"], ["--classes", "--labeled-videos", "20"]),
    ],
)
def test_recommend_rejects_a_bad_class_count_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], names: list[str]
) -> None:
    from motionfit.cli.main import main

    args = ["recommend", "--gpu-memory", "24", *argv]
    if "--labeled-videos" not in argv:
        args += ["--labeled-videos", "200"]
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    assert all(name in err for name in names), err
    assert captured.out == ""


def _sets(command: str) -> list[str]:
    """The ``--set`` items of a printed command line."""
    return [item.split()[0] for item in command.split(" --set ")[1:]]


def test_recommend_checkpoints_then_shards_a_model_that_does_not_fit() -> None:
    plain = recommend(20_000, 16, 40.0, "accuracy", classes=100)
    assert plain.model == "videomae_l" and not plain.fsdp and not plain.grad_checkpointing
    # 16 GB: the weights and AdamW state fit, the activations of 2 clips do not
    checkpointed = recommend(20_000, 16, 16.0, "accuracy", classes=100)
    assert checkpointed.model == "videomae_l" and checkpointed.grad_checkpointing
    assert not checkpointed.fsdp
    # 12 GB: only sharded over 4 GPUs and checkpointed; one such GPU takes a smaller model
    sharded = recommend(20_000, 16, 12.0, "accuracy", classes=100, gpus=4)
    alone = recommend(20_000, 16, 12.0, "accuracy", classes=100)
    assert sharded.model == "videomae_l" and sharded.fsdp and sharded.grad_checkpointing
    assert alone.model != "videomae_l" and not alone.fsdp
    assert sharded.memory_gb <= 12.0 * 0.9
    assert any("FSDP over 4 GPUs" in note for note in sharded.notes)
    config = load_config(sharded.recipe, _sets(sharded.commands[-1]))
    assert config.train.strategy == "fsdp" and config.train.devices == "4"
    assert config.train.grad_checkpointing and config.model.name == "videomae_l"
