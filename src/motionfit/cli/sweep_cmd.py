"""``motionfit sweep`` (Optuna hyperparameter search) and ``motionfit ablate`` (the
augmentation ablation)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from motionfit.cli.common import (
    CONFIG_OPTION,
    DATA_OPTION,
    FORCE_OPTION,
    SET_OPTION,
    VAL_OPTION,
    console,
    load_with_data,
    quiet_lightning,
)
from motionfit.errors import ConfigError

if TYPE_CHECKING:
    from motionfit.config import Config
    from motionfit.sweeps import SweepResult, TrialRow
    from motionfit.sweeps.ablation import RunScores, VariantSummary

OUT_OPTION = typer.Option(..., "--out", "-o", help="Output folder.")
LEADERBOARD_ROWS = 20
_SHORT_TITLES = {
    "train_acc": "train",
    "clean_train_acc": "clean-train",
    "val_top1": "val",
    "test_top1": "test",
    "shift_top1": "shifted test",
    "gap": "gap",
    "test_gap": "test gap",
    "val_frozen_agree": "val frozen agr.",
    "test_frozen_agree": "frozen agr.",
    "test_shuffled_agree": "shuffled agr.",
    "test_reversed_agree": "reversed agr.",
}


class SamplerName(str, Enum):
    """Search strategies of ``motionfit sweep``."""

    tpe = "tpe"
    grid = "grid"


def sweep(
    out: Path = OUT_OPTION,
    trials: int = typer.Option(..., "--trials", "-n", min=1, help="Total trials of the study."),
    config: str | None = CONFIG_OPTION,
    data: str | None = DATA_OPTION,
    val: str | None = VAL_OPTION,
    space: str = typer.Option(
        "seed_ranges",
        "--space",
        help="Space file (YAML: section.field: {type: loguniform|uniform|int|choice, ...}) or "
        "a shipped space name.",
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Optuna RDB storage shared by workers (default sqlite:///OUT/study.db; "
        "postgresql://user:pw@host/db across machines).",
    ),
    study: str = typer.Option("sweep", "--study", help="Study name in the storage."),
    sampler: SamplerName = typer.Option(SamplerName.tpe, "--sampler", help="tpe or grid."),
    seed: int | None = typer.Option(
        None, "--seed", help="Sampler seed (leave unset when several workers share a study)."
    ),
    no_prune: bool = typer.Option(
        False, "--no-prune", help="Train every trial to the end (no median pruning)."
    ),
    overrides: list[str] | None = SET_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Search config fields with Optuna; writes OUT/trials/NNNN runs, leaderboard.csv,
    importance.png and best_config.yaml. Run the same command again to continue, or in
    several processes/machines with one --storage to share the work."""
    optuna = _import_optuna()
    from motionfit.sweeps import load_space, run_sweep

    quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_with_data(config, overrides, {"data.source": data, "data.val": val})
    space_spec = load_space(space)
    # several workers may share one sweep folder: no lock (each trial's run has its own)
    claim_output(out, "sweep", cfg, force, inputs=[space], lock=False)
    result = run_sweep(
        cfg,
        space_spec,
        out,
        trials=trials,
        storage=storage,
        study_name=study,
        sampler=sampler.value,
        pruner=optuna.pruners.NopPruner() if no_prune else None,
        seed=seed,
        on_trial=lambda row: console.print(_trial_line(row, cfg.train.monitor)),
    )
    _print_leaderboard(result)


def ablate(
    out: Path = OUT_OPTION,
    config: str | None = CONFIG_OPTION,
    data: str | None = DATA_OPTION,
    val: str | None = VAL_OPTION,
    test: str | None = typer.Option(None, "--test", help="Test data, scored after each run."),
    shift_test: str | None = typer.Option(
        None,
        "--shift-test",
        help="A second test set that differs in time (speed, frame rate, dropped frames), "
        "scored after each run (column 'shifted test').",
    ),
    seeds: int = typer.Option(2, "--seeds", min=1, help="Seeds per variant."),
    variants: str | None = typer.Option(
        None,
        "--variants",
        help="Comma-separated built-in variants (default all: none, temporal, spatial, "
        "temporal+spatial, temporal+spatial+ls+mixup, temporal+spatial+ls+mixup+debias).",
    ),
    add: list[str] | None = typer.Option(
        None,
        "--add",
        help="Extra variant NAME:ITEM;ITEM;... (ITEM = section.field=value or a variant name), "
        "e.g. 'strong_jitter:temporal;sampling.jitter_prob=0.6'. Repeatable.",
    ),
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    force: bool = FORCE_OPTION,
) -> None:
    """Train the recipe with no augmentation, temporal only, spatial only, both, both + label
    smoothing + MixUp, and + the debiasing augmentations (same budget and seeds); print train,
    clean-train, validation and test accuracy, the overfitting gap and the motion-reliance
    agreements (mean ± std); write ablation.csv and ablation.png."""
    from motionfit.sweeps.ablation import run_ablation, select_variants

    quiet_lightning()
    names = [n.strip() for n in variants.split(",") if n.strip()] if variants else None
    chosen = select_variants(names, add or [])
    cfg = load_with_data(
        config, overrides, {"data.source": data, "data.val": val, "data.test": test}
    )
    claim_output(out, "ablate", cfg, force, inputs=[shift_test])
    result = run_ablation(
        cfg, chosen, out, seeds=seeds, progress=not quiet, on_run=_run_line, shift_test=shift_test
    )
    print_table(ablation_table(result.variants, seeds))
    console.print(f"table: {result.table}\nruns:  {result.runs_table}\nplot:  {result.plot}")


def ablation_table(variants: list[VariantSummary], seeds: int) -> Table:
    """One row per variant: mean ± std of every measured metric over the seeds."""
    table = Table(
        title=f"Augmentation ablation: mean ± std over {seeds} seed(s)",
        caption="accuracies in %, gaps in points: clean-train minus val (gap) and minus test; "
        "agr. = agreement of frozen / shuffled / reversed views with the normal ones",
    )
    table.add_column("variant")
    metrics = _ablation_metrics(variants)
    for metric in metrics:
        table.add_column(_SHORT_TITLES[metric], justify="right")
    for variant in variants:
        table.add_row(escape(variant.name), *(_mean_std(variant, m) for m in metrics))
    return table


def print_table(table: Table, out: Console | None = None) -> None:
    """Print ``table`` on ``out`` (the CLI console). On a terminal rich fits it to the window;
    elsewhere (a CI log, a pipe to ``tee``) it is printed as wide as it needs, so no cell is
    wrapped or cut (rich would otherwise squeeze it into 80 columns)."""
    from rich.measure import Measurement

    out = out or console
    if not out.is_terminal:
        needed = Measurement.get(out, out.options.update(width=10_000), table).maximum
        if needed > out.width:
            out = Console(file=out.file, width=needed, no_color=out.no_color)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``ablate`` to the root app."""
    app.command("sweep")(sweep)
    app.command("ablate")(ablate)


def claim_output(
    out: Path,
    kind: str,
    cfg: Config,
    force: bool,
    inputs: list[str | None] | None = None,
    lock: bool = True,
) -> None:
    """Check that ``kind`` (``sweep``, ``ablate``) may write into ``out`` (new, empty, or its
    own earlier output, which it continues; else only with ``--force``; never inside or over
    the data or ``inputs``) and claim it (with its lock, unless ``lock`` is False)."""
    from motionfit.output_dir import check_output_dir, claim_output_dir
    from motionfit.run import data_inputs

    every = [*data_inputs(cfg), *(inputs or [])]
    check_output_dir(out, kind, force=force, inputs=every, lock=lock)
    claim_output_dir(out, kind, lock=lock)


def _import_optuna() -> ModuleType:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError("motionfit sweep needs Optuna: pip install 'motionfit[sweep]'") from exc
    return optuna


def _trial_line(row: TrialRow, monitor: str) -> str:
    score = row.value if row.value is not None else row.scores.get("val_top1")
    shown = f"{monitor} {score:.4f}" if score is not None else "no score"
    params = ", ".join(f"{k}={_short(v)}" for k, v in row.params.items())
    epochs = row.scores.get("epochs")
    detail = f" ({escape(row.error)})" if row.error else ""
    return (
        f"trial {row.number:04d} {row.state}: {shown} after {epochs} epoch(s); "
        f"{escape(params)}{detail}"
    )


def _print_leaderboard(result: SweepResult) -> None:
    from motionfit.sweeps.leaderboard import leaderboard_table

    rows = result.rows
    title = f"study '{escape(result.study_name)}': {len(rows)} trial(s), best first"
    console.print(
        leaderboard_table(rows, result.monitor, title, console.width, limit=LEADERBOARD_ROWS)
    )
    if len(rows) > LEADERBOARD_ROWS:
        console.print(f"... {len(rows) - LEADERBOARD_ROWS} more in {result.leaderboard}")
    if result.grid_exhausted:
        console.print("the grid is exhausted: every configuration has been tried")
    console.print(f"leaderboard: {result.leaderboard}")
    if result.importance_plot is not None:
        console.print(f"importance:  {result.importance_plot}")
    else:
        console.print("importance:  needs at least 2 complete trials")
    if result.best_config is not None:
        console.print(
            f"best config: {result.best_config} "
            f"(motionfit train --config {result.best_config} --out RUN)"
        )


def _ablation_metrics(variants: list[VariantSummary]) -> list[str]:
    from motionfit.sweeps.ablation import METRICS

    return [m for m in METRICS if any(v.values(m) for v in variants)]


def _mean_std(variant: VariantSummary, metric: str) -> str:
    mean, std = variant.mean(metric), variant.std(metric)
    if mean is None:
        return "–"
    sign = "+" if "gap" in metric else ""
    return f"{mean * 100:{sign}.1f}" + (f" ± {std * 100:.1f}" if std is not None else "")


def _run_line(scores: RunScores) -> None:
    from motionfit.sweeps.ablation import METRIC_TITLES

    shown = ", ".join(
        f"{METRIC_TITLES[m]} {v:.1%}" for m, v in scores.scores.items() if v is not None
    )
    console.print(f"{escape(scores.variant)} seed {scores.seed}: {shown} ({scores.run_dir})")


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
