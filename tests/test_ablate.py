"""The augmentation ablation: variants as config overrides, and a 2-variant x 2-seed ablation
through the CLI on generated h264 videos (table columns, numbers read back from the runs,
plot, reuse of finished runs, refusal of a changed config)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from run_fixtures import assert_informative_png

from motionfit.cli.main import main
from motionfit.config import load_config
from motionfit.data.augment import get, registered
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.errors import ConfigError
from motionfit.models.data_config import resolve_model_defaults
from motionfit.run import read_metrics
from motionfit.sweeps.ablation import (
    METRICS,
    builtin_variants,
    run_ablation,
    select_variants,
    variant_config,
)

FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.clean_train_videos=4",
    "train.log_every_n_steps=1",
    "train.epochs=1",
    "eval.batch_size=8",
    "eval.clips=1",
    "output.tensorboard=false",
    "output.plots=false",
    "augment.flip_label_map={move_left: move_right}",
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    """Train (4 classes x 6, background colour tied to the class) and test (4 x 2, no
    shortcut) sets of real h264 videos, 32x32."""
    root = tmp_path_factory.mktemp("videos")
    common = {"classes": 4, "size": (32, 32), "frames": (16, 20)}
    train = make_dataset(root / "train", per_class=6, shortcut=1.0, **common)
    test = make_dataset(root / "test", per_class=2, seed=7, **common)
    return train, test


def test_builtin_variants_switch_one_thing_at_a_time():
    base = resolve_model_defaults(load_config("demo"))
    assert [v.name for v in builtin_variants()] == [
        "none", "temporal", "spatial", "temporal+spatial", "temporal+spatial+ls+mixup",
        "temporal+spatial+ls+mixup+debias",
    ]  # fmt: skip
    configs = {v.name: variant_config(base, v, seed=5) for v in builtin_variants()}
    assert all(c.train.seed == 5 for c in configs.values())
    assert not configs["none"].augment.enabled
    flags = {n: (c.augment.temporal, c.augment.spatial) for n, c in configs.items() if n != "none"}
    assert flags == {
        "temporal": (True, False),
        "spatial": (False, True),
        "temporal+spatial": (True, True),
        "temporal+spatial+ls+mixup": (True, True),
        "temporal+spatial+ls+mixup+debias": (True, True),
    }
    for name in ("none", "temporal", "spatial", "temporal+spatial"):
        assert configs[name].train.label_smoothing == 0 and configs[name].augment.mix.p == 0
    full = configs["temporal+spatial+ls+mixup"]
    assert full.train.label_smoothing == 0.1 and full.augment.mix.p == 0.5
    assert full.augment.mix.mixup_alpha == 0.8 and full.augment.mix.cutmix_alpha == 0
    debias = [name for name, a in registered("batch").items() if a.needs_appearance]
    assert len(debias) == 3  # static blend, still mix, foreground paste
    for name, config in configs.items():  # debiasing only in the last variant: the recipe's
        expected = base.augment if name.endswith("+debias") else None
        for kind in debias:
            own = expected.settings(kind).p if expected else 0
            assert config.augment.settings(kind).p == own
    rgb = variant_config(load_config("ablation_demo"), builtin_variants()[-1], seed=0)
    decided = [rgb.augment.settings(kind).p for kind in debias if get(kind).model_decided()]
    assert decided == [0.5, 0.5]
    # everything else is the recipe's
    assert configs["none"].optim == base.optim and configs["none"].train.epochs == base.train.epochs


def test_variants_are_selected_added_and_checked():
    chosen = select_variants(["none"], ["noflip:temporal+spatial;augment.hflip=0"])
    assert [v.name for v in chosen] == ["none", "noflip"]
    config = variant_config(load_config("demo"), chosen[1], seed=0)
    assert config.augment.hflip == 0 and config.augment.temporal and config.augment.spatial
    with pytest.raises(ConfigError, match="unknown variant 'nope'"):
        select_variants(["nope"])
    with pytest.raises(ConfigError, match="'spatiall' is neither"):
        select_variants([], ["x:spatiall"])
    with pytest.raises(ConfigError, match="NAME:ITEM"):
        select_variants([], ["no colon here"])
    with pytest.raises(ConfigError, match="unique: none"):
        select_variants(["none"], ["none:augment.hflip=0"])


def test_a_bad_variant_fails_before_any_run(videos, tmp_path):
    train, _ = videos
    base = load_config("demo", [f"data.source={train}", *FAST])
    variants = select_variants(["none"], ["bad:augment.hflip=2"])
    with pytest.raises(ConfigError, match=r"augment\.hflip"):
        run_ablation(base, variants, tmp_path / "ablation", seeds=1)
    assert not (tmp_path / "ablation").exists()


def test_cli_ablation_of_two_variants_over_two_seeds(videos, tmp_path, capsys):
    train, test = videos
    out = tmp_path / "ablation"
    argv = ["ablate", "--config", "demo", "--data", str(train), "--test", str(test), "-q"]
    argv += ["--shift-test", str(test)]
    argv += ["--seeds", "2", "--variants", "none", "--out", str(out)]
    argv += ["--add", "noflip:temporal+spatial;augment.hflip=0"]
    argv += [item for override in FAST for item in ("--set", override)]

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "none" in printed and "noflip" in printed and "±" in printed

    with (out / "ablation.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        table = list(reader)
    assert reader.fieldnames == [
        "variant", "seeds",
        *(f"{metric}_{stat}" for metric in METRICS for stat in ("mean", "std")),
    ]  # fmt: skip
    assert [row["variant"] for row in table] == ["none", "noflip"]
    with (out / "ablation_runs.csv").open(newline="") as handle:
        runs = list(csv.DictReader(handle))
    assert [(r["variant"], r["seed"]) for r in runs] == [
        ("none", "0"), ("none", "1"), ("noflip", "0"), ("noflip", "1"),
    ]  # fmt: skip

    for run in runs:  # every number is read from the run directory at its best epoch
        run_dir = Path(run["run_dir"])
        config = load_config(run_dir / "config.yaml")
        assert config.train.seed == int(run["seed"])
        assert config.augment.enabled is (run["variant"] == "noflip")
        assert config.augment.hflip == (0.0 if run["variant"] == "noflip" else 0.5)
        history = read_metrics(run_dir / "metrics.csv")
        best = max(history, key=lambda h: (h["val_top1"], -h["epoch"]))
        test = json.loads((run_dir / "eval" / "metrics.json").read_text())
        test_top1 = test["top1"]
        val = json.loads((run_dir / "eval_val" / "metrics.json").read_text())
        shift = json.loads((run_dir / "eval_shift" / "metrics.json").read_text())
        expected = {
            "train_acc": best["train_acc"],
            "clean_train_acc": best["clean_train_acc"],
            "val_top1": best["val_top1"],
            "test_top1": test_top1,
            "gap": best["clean_train_acc"] - best["val_top1"],
            "test_gap": best["clean_train_acc"] - test_top1,
            "shift_top1": shift["top1"],
            "val_frozen_agree": val["diagnostics"]["frozen"]["agreement"],
            **{
                f"test_{name}_agree": test["diagnostics"][name]["agreement"]
                for name in ("frozen", "shuffled", "reversed")
            },
        }
        assert val["num_videos"] == len(read_records(run_dir / "split" / "val.txt")[0])
        for metric, value in expected.items():
            assert float(run[metric]) == pytest.approx(value, abs=1e-5), metric

    for row in table:  # mean and sample std over the two seeds
        assert row["seeds"] == "2"
        mine = [r for r in runs if r["variant"] == row["variant"]]
        for metric in METRICS:
            values = [float(r[metric]) for r in mine]
            assert float(row[f"{metric}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-5)
            assert float(row[f"{metric}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-5)
    assert_informative_png(out / "ablation.png")

    # run again: finished runs are reused, not trained again
    stamps = {r["run_dir"]: (Path(r["run_dir"]) / "metrics.csv").stat().st_mtime for r in runs}
    assert main(argv) == 0
    assert all((Path(d) / "metrics.csv").stat().st_mtime == t for d, t in stamps.items())
    # a changed budget in the same folder is refused, nothing is overwritten
    assert main([*argv, "--set", "train.epochs=2"]) == 2
    assert "holds a run with another config" in capsys.readouterr().err
    assert all((Path(d) / "metrics.csv").stat().st_mtime == t for d, t in stamps.items())


def test_the_table_printed_to_a_log_has_one_line_per_variant(capsys):
    """Not a terminal (CI log, ``| tee``): the table is as wide as it needs, not squeezed
    into 80 columns, so no cell wraps onto a second line or is cut."""
    from motionfit.cli.sweep_cmd import ablation_table, print_table
    from motionfit.sweeps.ablation import RunScores, VariantSummary

    names = [v.name for v in builtin_variants()] + ["strong_jitter_with_a_long_name"]
    variants = [
        VariantSummary(
            name,
            [
                RunScores(name, seed, Path("runs"), 1, {m: 0.5 + 0.1 * seed for m in METRICS})
                for seed in range(2)
            ],
        )
        for name in names
    ]
    capsys.readouterr()
    print_table(ablation_table(variants, seeds=2))
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if "±" in line and "mean ± std" not in line]
    assert len(rows) == len(names), "\n".join(lines)
    for name, row in zip(names, rows, strict=True):
        assert f" {name} " in row, row
        assert row.count("±") == len(METRICS), row  # every cell whole, on this line
        assert "…" not in row
    assert max(len(line) for line in lines) > 80  # wider than rich's default for a pipe
