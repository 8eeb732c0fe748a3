"""The augmentation ablation: the same recipe trained with augmentation switched on piece by
piece, with the same budget and seeds, in one table.

Built-in variants (:func:`builtin_variants`), each a list of ``--set`` overrides on the recipe:

- ``none``: no training augmentation (centre clip and crop, as in evaluation);
- ``temporal``: random clip start, stride and temporal jitter only;
- ``spatial``: the recipe's random crop, flip (and colour, if it sets any) only;
- ``temporal+spatial``: both;
- ``temporal+spatial+ls+mixup``: both, plus label smoothing 0.1 and video MixUp (alpha 0.8,
  half of the batches);
- ``temporal+spatial+ls+mixup+debias``: the same with the recipe's debiasing augmentations
  (the registered batch augmentations that need appearance; by default still mix and
  foreground paste, p 0.5 each).

The variants read the augmentation registry (:mod:`motionfit.data.augment`): the first four
turn label smoothing and every registered batch and clip-temporal augmentation off, so only
the clip's own temporal and spatial augmentation differs; the fifth adds label smoothing and
MixUp, the sixth the debiasing. A registered augmentation of your own is off in every built-in
variant; add one that turns it on (``--add 'mine:temporal+spatial;augment.NAME.p=0.5'``). More
variants are ``NAME:ITEM;ITEM;...`` where an item is ``section.field=value`` or the name of a
variant whose overrides it includes, e.g. ``strong_jitter:temporal;sampling.jitter_prob=0.6``.

Every variant trains ``seeds`` runs (``train.seed`` = the recipe's seed + 0, 1, ...) on the same
train/validation split for ``train.epochs``. Per run, at its best validation epoch (as
``motionfit report``): training accuracy (augmented clips, against the argmax of the mixed
targets under MixUp), clean-train accuracy (training videos with evaluation transforms),
validation top-1, test top-1 (with ``data.test``), the overfitting gap (clean-train minus
validation), the test gap (clean-train minus test) and the motion-reliance diagnostics
(:mod:`motionfit.evaluation.diagnose`): the frozen agreement on the validation videos (which
share the training data's shortcuts) and the frozen, shuffled and reversed agreements on the
test videos.

``OUT`` receives ``runs/VARIANT/seedS/`` (run directories), ``ablation_runs.csv`` (one row per
run), ``ablation.csv`` (mean and sample standard deviation per variant) and ``ablation.png``.
A run already finished with the same config is reused and an unfinished one resumed, so the
command continues where an interrupted one stopped. SIGTERM or SIGINT stops a run at its next
step (with ``last.ckpt``) or the ablation after the current run's evaluation; exit 143 or 130.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from motionfit.atomic import atomic_write_bytes, atomic_write_text
from motionfit.config import Config, apply_override, load_config, validate_config
from motionfit.data.augment import Augmentation, registered
from motionfit.errors import ConfigError, RunError
from motionfit.evaluation import eval_dir
from motionfit.evaluation.evaluate import METRICS_JSON, VAL_EVAL_DIR
from motionfit.evaluation.plots import png_bytes
from motionfit.models.data_config import resolve_model_defaults
from motionfit.report import summarize_run
from motionfit.run import RunPaths
from motionfit.stopping import StopRequest
from motionfit.train.multi_label import refuse_multi_label

LS_MIXUP = (
    "augment.enabled=true",
    "augment.temporal=true",
    "augment.spatial=true",
    "train.label_smoothing=0.1",
    "augment.mix.p=0.5",
    "augment.mix.mixup_alpha=0.8",
    "augment.mix.cutmix_alpha=0",
)
ACCURACY_METRICS = ("train_acc", "clean_train_acc", "val_top1", "test_top1", "shift_top1")
GAP_METRICS = ("gap", "test_gap")
DIAGNOSTIC_METRICS = (
    "val_frozen_agree",
    "test_frozen_agree",
    "test_shuffled_agree",
    "test_reversed_agree",
)
METRICS = (*ACCURACY_METRICS, *GAP_METRICS, *DIAGNOSTIC_METRICS)
METRIC_TITLES = {
    "train_acc": "train acc",
    "clean_train_acc": "clean-train acc",
    "val_top1": "val top-1",
    "test_top1": "test top-1",
    "shift_top1": "shifted test top-1",
    "gap": "gap (clean − val)",
    "test_gap": "test gap (clean − test)",
    "val_frozen_agree": "val frozen agreement",
    "test_frozen_agree": "test frozen agreement",
    "test_shuffled_agree": "test shuffled agreement",
    "test_reversed_agree": "test reversed agreement",
}
SHIFT_EVAL_DIR = "eval_shift"
TABLE = "ablation.csv"
RUNS_TABLE = "ablation_runs.csv"
PLOT = "ablation.png"
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class Variant:
    """A named set of config overrides (``section.field=value``)."""

    name: str
    overrides: tuple[str, ...]


@dataclass
class RunScores:
    """The scores of one run at its best validation epoch (None where not measured)."""

    variant: str
    seed: int
    run_dir: Path
    best_epoch: int | None
    scores: dict[str, float | None]


@dataclass
class VariantSummary:
    """The runs of one variant and their mean and sample standard deviation per metric."""

    name: str
    runs: list[RunScores]

    def values(self, metric: str) -> list[float]:
        """The measured values of ``metric`` over the seeds."""
        return [v for r in self.runs if (v := r.scores.get(metric)) is not None]

    def mean(self, metric: str) -> float | None:
        """Mean over the seeds (None if never measured)."""
        values = self.values(metric)
        return statistics.fmean(values) if values else None

    def std(self, metric: str) -> float | None:
        """Sample standard deviation over the seeds (None below two values)."""
        values = self.values(metric)
        return statistics.stdev(values) if len(values) > 1 else None


@dataclass
class AblationResult:
    """The summaries, in variant order, and the files written."""

    variants: list[VariantSummary]
    table: Path
    runs_table: Path
    plot: Path


def builtin_variants() -> list[Variant]:
    """The built-in variants, in order, from the augmentations registered now."""
    debias = _turned_off(lambda a: a.stage == "batch" and a.needs_appearance)
    others = _turned_off(
        lambda a: a.stage == "clip-temporal" or (a.stage == "batch" and not a.needs_appearance)
    )
    no_regularization = ("train.label_smoothing=0", *others, *debias)
    on = ("augment.enabled=true",)
    variants = {
        "none": ("augment.enabled=false", *no_regularization),
        "temporal": (*on, "augment.temporal=true", "augment.spatial=false", *no_regularization),
        "spatial": (*on, "augment.temporal=false", "augment.spatial=true", *no_regularization),
        "temporal+spatial": (
            *on,
            "augment.temporal=true",
            "augment.spatial=true",
            *no_regularization,
        ),
        "temporal+spatial+ls+mixup": (*others, *LS_MIXUP, *debias),
        "temporal+spatial+ls+mixup+debias": (*others, *LS_MIXUP),
    }
    return [Variant(name, overrides) for name, overrides in variants.items()]


def _turned_off(chosen: Callable[[type[Augmentation]], bool]) -> tuple[str, ...]:
    """``augment.NAME.FIELD=VALUE`` overrides turning off the registered augmentations that
    ``chosen`` picks."""
    return tuple(
        f"augment.{name}.{field}={value}"
        for name, augmentation in registered().items()
        if chosen(augmentation)
        for field, value in augmentation.turned_off().items()
    )


def parse_variant(text: str, known: Mapping[str, Variant]) -> Variant:
    """``NAME:ITEM;ITEM;...`` -> a variant; an item is ``section.field=value`` or the name of a
    ``known`` variant whose overrides come first at that place."""
    name, sep, body = text.partition(":")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise ConfigError(
            f"variant '{text}' is not NAME:ITEM;ITEM;... (NAME of letters, digits, _ . + -)"
        )
    overrides: list[str] = []
    for item in (part.strip() for part in body.split(";")):
        if not item:
            continue
        if "=" in item:
            overrides.append(item)
        elif item in known:
            overrides.extend(known[item].overrides)
        else:
            raise ConfigError(
                f"variant '{name}': '{item}' is neither section.field=value nor a variant "
                f"({', '.join(known)})"
            )
    return Variant(name, tuple(overrides))


def select_variants(names: Sequence[str] | None = None, added: Sequence[str] = ()) -> list[Variant]:
    """The built-in variants named in ``names`` (all when None), then the ``added`` ones
    (``NAME:ITEM;...``, see :func:`parse_variant`); names must be unique."""
    builtin = {v.name: v for v in builtin_variants()}
    chosen = []
    for name in builtin if names is None else names:
        if name not in builtin:
            raise ConfigError(f"unknown variant '{name}' (built-in: {', '.join(builtin)})")
        chosen.append(builtin[name])
    known = dict(builtin)
    for text in added:
        variant = parse_variant(text, known)
        known[variant.name] = variant
        chosen.append(variant)
    names_seen = [v.name for v in chosen]
    duplicates = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if duplicates:
        raise ConfigError(f"variant names must be unique: {', '.join(duplicates)}")
    if not chosen:
        raise ConfigError("no variants to run")
    return chosen


def variant_config(base: Config, variant: Variant, seed: int) -> Config:
    """``base`` with the variant's overrides and ``train.seed = seed``, validated."""
    raw = base.model_dump(mode="json")
    for item in (*variant.overrides, f"train.seed={seed}"):
        raw = apply_override(raw, item)
    return resolve_model_defaults(validate_config(raw, f"variant '{variant.name}'"))


def run_ablation(
    base: Config,
    variants: Sequence[Variant],
    out: str | Path,
    *,
    seeds: int = 2,
    progress: bool = False,
    on_run: Callable[[RunScores], None] | None = None,
    shift_test: str | None = None,
) -> AblationResult:
    """Train every variant with ``seeds`` seeds (or reuse/resume their runs in ``out``), then
    write ``ablation_runs.csv``, ``ablation.csv`` and ``ablation.png``. Every variant's config
    is validated before the first run starts. ``on_run`` is called after each run.
    ``shift_test`` is a second test set (e.g. other speeds and frame rates), scored into
    ``RUN/eval_shift`` (column ``shift_top1``)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    refuse_multi_label(base, "ablate")
    out = Path(out)
    base = base.model_copy(update={"eval": base.eval.model_copy(update={"diagnose": True})})
    plan = [
        (variant, base.train.seed + k, variant_config(base, variant, base.train.seed + k))
        for variant in variants
        for k in range(seeds)
    ]
    runs: dict[str, list[RunScores]] = {variant.name: [] for variant in variants}
    signals = StopRequest()  # between runs and during their evaluations; a run catches its own
    with signals.installed():
        for number, (variant, seed, config) in enumerate(plan, start=1):
            run_dir = out / "runs" / variant.name / f"seed{seed}"
            _train_or_reuse(config, run_dir, progress, shift_test)
            scores = run_scores(run_dir, variant.name, seed)
            runs[variant.name].append(scores)
            if on_run is not None:
                on_run(scores)
            signals.raise_if_pending(
                f"after {number} of {len(plan)} runs; run the same command again to continue"
            )
    summaries = [VariantSummary(name, found) for name, found in runs.items()]
    return AblationResult(
        variants=summaries,
        table=write_table(summaries, out / TABLE),
        runs_table=write_runs_table(summaries, out / RUNS_TABLE),
        plot=atomic_write_bytes(out / PLOT, png_bytes(ablation_figure(summaries))),
    )


def run_scores(run_dir: Path, variant: str, seed: int) -> RunScores:
    """Read a finished run's scores at its best validation epoch."""
    summary = summarize_run(run_dir)
    train_acc = None
    if summary.best_epoch is not None:
        row = summary.history["epoch"].index(summary.best_epoch)
        value = summary.history.get("train_acc", [math.nan] * (row + 1))[row]
        train_acc = value if math.isfinite(value) else None
    test = (summary.test or {}).get("top1")
    test_diagnostics = (summary.test or {}).get("diagnostics", {})
    val_diagnostics = _read_json(run_dir / VAL_EVAL_DIR / METRICS_JSON).get("diagnostics", {})
    shift = _read_json(run_dir / SHIFT_EVAL_DIR / METRICS_JSON).get("top1")
    clean = summary.clean_train
    return RunScores(
        variant=variant,
        seed=seed,
        run_dir=run_dir,
        best_epoch=summary.best_epoch,
        scores={
            "train_acc": train_acc,
            "clean_train_acc": clean,
            "val_top1": summary.val_top1,
            "test_top1": test,
            "shift_top1": shift,
            "gap": summary.gap,
            "test_gap": clean - test if clean is not None and test is not None else None,
            "val_frozen_agree": val_diagnostics.get("frozen", {}).get("agreement"),
            **{
                f"test_{name}_agree": test_diagnostics.get(name, {}).get("agreement")
                for name in ("frozen", "shuffled", "reversed")
            },
        },
    )


def write_table(summaries: Sequence[VariantSummary], path: Path) -> Path:
    """``ablation.csv``: variant, seeds, then ``METRIC_mean`` and ``METRIC_std`` per metric."""
    header = ["variant", "seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))]
    rows = [
        [v.name, len(v.runs), *(_cell(f(m)) for m in METRICS for f in (v.mean, v.std))]
        for v in summaries
    ]
    return atomic_write_text(path, _csv_text(header, rows))


def write_runs_table(summaries: Sequence[VariantSummary], path: Path) -> Path:
    """``ablation_runs.csv``: one row per run with its best epoch and scores."""
    header = ["variant", "seed", "best_epoch", *METRICS, "run_dir"]
    rows = [
        [r.variant, r.seed, _cell(r.best_epoch), *(_cell(r.scores[m]) for m in METRICS), r.run_dir]
        for v in summaries
        for r in v.runs
    ]
    return atomic_write_text(path, _csv_text(header, rows))


def ablation_figure(summaries: Sequence[VariantSummary]) -> Figure:
    """Bars of mean accuracy (train, clean-train, validation, test) and of the gaps per
    variant, with the standard deviation over seeds as error bars and each seed as a dot."""
    names = [v.name for v in summaries]
    x = np.arange(len(names))
    fig = Figure(figsize=(max(9.0, 2.4 * len(names)), 10.5), dpi=100)
    panels = (
        (fig.add_subplot(3, 1, 1), ACCURACY_METRICS, "accuracy at the best validation epoch"),
        (fig.add_subplot(3, 1, 2), GAP_METRICS, "gap: clean-train minus val / test"),
        (fig.add_subplot(3, 1, 3), DIAGNOSTIC_METRICS, "agreement with normal views"),
    )
    for ax, metrics, ylabel in panels:
        shown = [m for m in metrics if any(v.values(m) for v in summaries)]
        if not shown:
            ax.set_axis_off()
            continue
        width = 0.8 / max(1, len(shown))
        for i, metric in enumerate(shown):
            offset = x - 0.4 + width * (i + 0.5)
            means = [v.mean(metric) for v in summaries]
            stds = [v.std(metric) or 0.0 for v in summaries]
            ax.bar(
                offset,
                [m if m is not None else math.nan for m in means],
                width,
                yerr=stds,
                capsize=3,
                label=METRIC_TITLES[metric],
            )
            for j, variant in enumerate(summaries):
                values = variant.values(metric)
                ax.plot([offset[j]] * len(values), values, "k.", markersize=4)
        ax.set_xticks(x, names)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    panels[0][0].set_ylim(0, 1.05)
    panels[2][0].set_ylim(0, 1.05)
    panels[1][0].axhline(0.0, color="black", linewidth=0.8)
    seeds = max(len(v.runs) for v in summaries)
    fig.suptitle(f"Augmentation ablation: mean ± std over {seeds} seed(s)")
    fig.tight_layout()
    return fig


def _train_or_reuse(
    config: Config, run_dir: Path, progress: bool, shift_test: str | None = None
) -> None:
    """Train the run, resume it if unfinished, or keep it if finished with this config; then
    score what is missing of the validation diagnostics and the shifted test."""
    from motionfit.train.fit import evaluate_test_set, train

    paths = RunPaths(run_dir)
    if not paths.config.is_file():
        train(config, run_dir, progress=progress)
    elif _as_planned(load_config(paths.config), config) != config:
        raise RunError(f"{run_dir} holds a run with another config; choose another --out")
    elif not paths.model.is_file():
        train(config, run_dir, resume=True, progress=progress)
    elif config.data.test and not (eval_dir(paths) / METRICS_JSON).is_file():
        evaluate_test_set(paths, config.data.test)
    val_source = config.data.val or paths.split_dir / "val.txt"
    if not (run_dir / VAL_EVAL_DIR / METRICS_JSON).is_file() and Path(val_source).exists():
        evaluate_test_set(paths, str(val_source), out_dir=run_dir / VAL_EVAL_DIR)
    if shift_test and not (run_dir / SHIFT_EVAL_DIR / METRICS_JSON).is_file():
        evaluate_test_set(paths, shift_test, out_dir=run_dir / SHIFT_EVAL_DIR)


def _as_planned(stored: Config, planned: Config) -> Config:
    """A run's stored config as planned: training fixes ``sampling.stride_fps: auto`` to the
    data's frame rate, which is the same run."""
    if planned.sampling.stride_fps != "auto":
        return stored
    sampling = stored.sampling.model_copy(update={"stride_fps": "auto"})
    return stored.model_copy(update={"sampling": sampling})


def _read_json(path: Path) -> dict:
    """A JSON file's dict, or an empty one when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else {}


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
