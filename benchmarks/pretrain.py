"""Few labels, many unlabeled videos: does VideoMAE pretraining on the unlabeled ones, then
fine-tuning on the labeled few, beat training from scratch on the same labels with the same
fine-tuning budget?

    python benchmarks/pretrain.py [--seeds 0 1] [--labeled 4] [--unlabeled 48] [--out DIR]

Data (the synthetic motion set, 8 classes, 64x64, made once and cached under ``--out``):
``--labeled`` training videos per class, ``--val`` labeled validation videos per class (best
checkpoint), ``--unlabeled`` videos per class for pretraining (labels never read), and
``--test`` held-out videos per class, all generated with different seeds.

Per seed: (1) ``pretrain`` videomae_tiny (recipe ``videomae_tiny_pretrain``) on the unlabeled
videos; (2) fine-tune it (recipe ``videomae_tiny_finetune``: layer decay 0.75) on the labeled
videos; (3) the same fine-tuning from random weights (layer decay off, which suits training
from scratch). (2) and (3) take the same epochs, batches and steps. Both score the test set
(top-1 over 2 uniform clips per video). Prints a table (mean and spread over seeds) and writes
``results.json``. Finished runs are reused when the script is run again.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import warnings
from pathlib import Path

import torch

from motionfit.config import load_config
from motionfit.data.synthetic import is_complete, make_dataset
from motionfit.pretrain.fit import pretrain
from motionfit.train.fit import train

CLASSES = 8
DATA_SEEDS = {"labeled": 1, "val": 2, "unlabeled": 3, "test": 4}
# the synthetic set's direction pairs swap under a horizontal flip (as in the demo recipe)
FLIP_MAP = (
    "augment.flip_label_map={move_left: move_right, rotate_clockwise: rotate_counterclockwise}"
)


def main() -> None:
    """Run the benchmark and print its table."""
    args = _parse()
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    data = {
        name: _dataset(args.out / "data" / name, per_class, DATA_SEEDS[name])
        for name, per_class in (
            ("labeled", args.labeled),
            ("val", args.val),
            ("unlabeled", args.unlabeled),
            ("test", args.test),
        )
    }
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for seed in args.seeds:
        runs = args.out / f"seed{seed}"
        pretrain_dir = runs / "pretrain"
        if not (pretrain_dir / "model.safetensors").is_file():
            start = time.perf_counter()
            config = load_config(
                "videomae_tiny_pretrain",
                [
                    f"data.source={data['unlabeled']}",
                    f"train.seed={seed}",
                    f"train.epochs={args.pretrain_epochs}",
                    f"data.num_workers={args.workers}",
                    "output.tensorboard=false",
                    *args.pretrain_set,
                ],
            )
            pretrain(config, pretrain_dir, progress=False)
            results[f"pretrain/{seed}/minutes"] = (time.perf_counter() - start) / 60
        for arm, init_from, extra in (
            ("pretrained", pretrain_dir, []),
            ("scratch", None, ["optim.layer_decay=1.0"]),
        ):
            key = f"{arm}/{seed}"
            if key in results:
                continue
            start = time.perf_counter()
            config = load_config(
                "videomae_tiny_finetune",
                [
                    f"data.source={data['labeled']}",
                    f"data.val={data['val']}",
                    f"data.test={data['test']}",
                    f"train.seed={seed}",
                    f"train.epochs={args.finetune_epochs}",
                    f"data.num_workers={args.workers}",
                    "output.tensorboard=false",
                    FLIP_MAP,
                    *extra,
                    *args.finetune_set,
                ],
            )
            result = train(config, runs / arm, init_from=init_from, progress=False)
            metrics = result.test_metrics or {}
            results[key] = {
                "top1": metrics["top1"],
                "mean_class_accuracy": metrics["mean_class_accuracy"],
                "steps": result.steps,
                "minutes": (time.perf_counter() - start) / 60,
            }
            results_file.parent.mkdir(parents=True, exist_ok=True)
            results_file.write_text(json.dumps(results, indent=2) + "\n")
            print(f"seed {seed} {arm}: test top-1 {metrics['top1']:.1%}", flush=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    _print_table(results, args)


def _dataset(out: Path, per_class: int, seed: int) -> Path:
    params = {"classes": CLASSES, "per_class": per_class, "seed": seed, "size": (64, 64)}
    if not is_complete(out, **params, frames=(16, 32), fps=(20.0, 30.0), shortcut=0.0):
        make_dataset(out, **params, workers=2)
    return out


def _print_table(results: dict, args: argparse.Namespace) -> None:
    chance = 1 / CLASSES
    print(
        f"\n{args.labeled} labeled (+{args.val} val) and {args.unlabeled} unlabeled videos per "
        f"class, {CLASSES} classes, test {args.test} per class; chance {chance:.1%}\n"
    )
    print("| start | test top-1 per seed | mean top-1 | mean class acc. | fine-tune steps |")
    print("|---|---|---|---|---|")
    for arm, name in (("scratch", "random init"), ("pretrained", "VideoMAE pretrained")):
        rows = [results[f"{arm}/{seed}"] for seed in args.seeds if f"{arm}/{seed}" in results]
        if not rows:
            continue
        top1 = [r["top1"] for r in rows]
        per_seed = ", ".join(f"{v:.1%}" for v in top1)
        spread = f" ± {statistics.stdev(top1):.1%}" if len(top1) > 1 else ""
        mca = statistics.mean(r["mean_class_accuracy"] for r in rows)
        print(
            f"| {name} | {per_seed} | {statistics.mean(top1):.1%}{spread} | {mca:.1%} | "
            f"{rows[0]['steps']} |"
        )
    minutes = [results[k] for k in results if k.endswith("/minutes")]
    if minutes:
        print(f"\npretraining: {statistics.mean(minutes):.1f} min per seed")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/motionfit-pretrain-bench"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--labeled", type=int, default=4, help="labeled videos per class")
    parser.add_argument("--val", type=int, default=2, help="labeled validation videos per class")
    parser.add_argument("--unlabeled", type=int, default=48, help="unlabeled videos per class")
    parser.add_argument("--test", type=int, default=20, help="test videos per class")
    parser.add_argument("--pretrain-epochs", type=int, default=40)
    parser.add_argument("--finetune-epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--pretrain-set", nargs="*", default=[], help="extra pretraining overrides (a.b=c)"
    )
    parser.add_argument(
        "--finetune-set", nargs="*", default=[], help="extra overrides of both fine-tunings"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
