"""The real-footage study of docs/real-footage.md: planned recipe vs demo recipe vs no
augmentation, for several models and seeds, scored on a held-out test set.

For each model: ``motionfit plan TRAIN --model M`` writes the planned recipe; then, per seed,
three runs train through the CLI exactly as a user would:

- ``planned``: ``motionfit train --config PLAN``;
- ``demo``: ``motionfit train --config demo --set model.name=M`` (the demo's 8x2 clips at 32 px);
- ``noaug``: the planned recipe with ``augment.enabled=false`` (no temporal, spatial, mixing or
  debiasing augmentation; label smoothing stays).

Every run is scored on TEST with the motion-reliance diagnostics (``--test``, ``eval.diagnose``),
and its own validation split is scored again by ``motionfit evaluate`` to check that training's
validation agrees with it. Finished runs are kept: rerunning the command only does what is
missing. Prints a markdown table (mean ± std over seeds) and writes ``OUT/results.json``.

Usage: python scripts/real_footage_study.py --train TRAIN --test TEST --out OUT
       [--models motioncnn_tiny motioncnn_tiny_rgb ...] [--seeds 0 1] [--time-budget HOURS]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RECIPES = ("planned", "demo", "noaug")


def motionfit(*args: str) -> None:
    """Run ``motionfit ARGS`` (the installed CLI of this interpreter); stop on failure."""
    command = [sys.executable, "-m", "motionfit.cli.main", *args]
    print("$ motionfit " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def plan_for(model: str, train: str, out: Path, hours: float | None) -> Path:
    """The planned recipe of ``model`` on ``train`` (made once)."""
    path = out / "plans" / f"{model}.yaml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        budget = ["--time-budget", str(hours)] if hours else []
        motionfit("plan", train, "--model", model, "--out", str(path), *budget)
    return path


def train_run(
    run: Path, recipe: str, plan: Path, model: str, seed: int, train: str, test: str
) -> None:
    """Train (or finish) one run of the study and score its test set and validation split."""
    if not (run / "eval" / "metrics.json").is_file():
        sets = ["--set", f"train.seed={seed}", "--set", "eval.diagnose=true"]
        if recipe == "demo":
            sets += ["--set", f"model.name={model}"]
            config = ["--config", "demo", "--data", train]
        else:
            config = ["--config", str(plan)]
        if recipe == "noaug":
            sets += ["--set", "augment.enabled=false"]
        if (run / "checkpoints" / "last.ckpt").is_file():
            motionfit("train", "--resume", str(run), "-q")
        else:
            motionfit("train", *config, "--test", test, "--out", str(run), "-q", *sets)
    again = validation_scores(run)
    if not (again / "metrics.json").is_file():
        val = str(run / "split" / "val.txt")
        motionfit("evaluate", str(run), "--data", val, "--out", str(again), "--json")


def validation_scores(run: Path) -> Path:
    """Where ``motionfit evaluate`` scores the run's validation split (beside the runs: an
    output never lies inside a command's input)."""
    return run.parent.parent / "validation" / run.name


def collect(run: Path) -> dict:
    """The numbers of one finished run."""
    test = json.loads((run / "eval" / "metrics.json").read_text())
    again = json.loads((validation_scores(run) / "metrics.json").read_text())
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    column = rows[0].index("val_top1")
    best_val = max(float(row[column]) for row in rows[1:] if row[column])
    diagnostics = test.get("diagnostics", {})
    return {
        "test_top1": test["top1"],
        "test_mean_class_accuracy": test["mean_class_accuracy"],
        "val_top1_training": best_val,
        "val_top1_evaluate": again["top1"],
        "frozen_agreement": diagnostics.get("frozen", {}).get("agreement"),
        "reversed_agreement": diagnostics.get("reversed", {}).get("agreement"),
        "meaningful": test.get("diagnostics_meaningful"),
        "reading": test.get("diagnostics_reading", ""),
    }


def mean_std(values: list[float]) -> str:
    """``mean ± std`` in percent (std over seeds; 0 for one seed)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}"


def table(results: dict[str, dict[str, list[dict]]]) -> str:
    """The markdown table of the study."""
    lines = [
        "| model | recipe | test top-1 % | test mean class accuracy % | val top-1 % (training) "
        "| val top-1 % (evaluate) | frozen agreement % | diagnostics readable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, by_recipe in results.items():
        for recipe, runs in by_recipe.items():
            frozen = [r["frozen_agreement"] for r in runs if r["frozen_agreement"] is not None]
            readable = sum(bool(r["meaningful"]) for r in runs)
            lines.append(
                f"| {model} | {recipe} | {mean_std([r['test_top1'] for r in runs])} "
                f"| {mean_std([r['test_mean_class_accuracy'] for r in runs])} "
                f"| {mean_std([r['val_top1_training'] for r in runs])} "
                f"| {mean_std([r['val_top1_evaluate'] for r in runs])} "
                f"| {mean_std(frozen) if frozen else '-'} | {readable} of {len(runs)} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Run what is missing of the study, then print and save its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--models", nargs="+", default=["motioncnn_tiny", "motioncnn_tiny_rgb"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--time-budget", type=float, default=None)
    args = parser.parse_args()
    results: dict[str, dict[str, list[dict]]] = {}
    for model in args.models:
        plan = plan_for(model, args.train, args.out, args.time_budget)
        for recipe in args.recipes:
            for seed in args.seeds:
                run = args.out / "runs" / f"{model}-{recipe}-s{seed}"
                train_run(run, recipe, plan, model, seed, args.train, args.test)
                results.setdefault(model, {}).setdefault(recipe, []).append(collect(run))
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
