"""The worked example of docs/multi-label.md: multi-label against single-label training.

Makes a multi-label synthetic set (two moving objects per video, both motions are labels), a
test set with another seed and faster motion (a speed shift), then trains the demo's tiny CNN
twice per seed: multi-label (sigmoid BCE on ``list.txt``) and single-label (cross-entropy on the
first object's motion only, the class the video was rendered for). Both are scored by mAP
(macro) on the multi-label test set; the single-label run's softmax serves as its class scores.

    python scripts/multi_label_example.py OUT [--seeds 0 1] [--epochs 10] [--per-class 30]

Prints a markdown table (mean ± std over the seeds) and writes OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from motionfit.config import load_config
from motionfit.data.records import read_records
from motionfit.data.synthetic import MULTI_LABEL_LIST, make_dataset
from motionfit.evaluation import align_labels
from motionfit.evaluation.evaluate_multi import label_sets
from motionfit.evaluation.inference import predict_views
from motionfit.evaluation.multi_label import map_macro, map_micro
from motionfit.run import load_run
from motionfit.train.fit import train

DATA = {"classes": 4, "size": (32, 32), "frames": (16, 24), "multi_label": True}
# the demo recipe made cheaper for 2 CPU cores: smaller batches (more steps), 1 eval clip
CHEAP = [
    "train.batch_size=16",
    "train.clean_train_videos=16",
    "eval.clips=1",
    "eval.diagnose=false",
]


def first_label_list(synth: Path) -> Path:
    """A single-label list of the same videos: each video's first object's motion (its name)."""
    lines = []
    for line in (synth / MULTI_LABEL_LIST).read_text().splitlines():
        path = line.split()[0]
        lines.append(f"{path} {Path(path).stem.rsplit('_', 1)[0]}\n")
    out = synth / "first_label.txt"
    out.write_text("".join(lines))
    return out


def score(run_dir: Path, test: Path) -> dict[str, float]:
    """mAP macro and micro of a run on the multi-label test list (softmax scores for a
    single-label run, sigmoids for a multi-label one)."""
    run = load_run(run_dir)
    records, labels = read_records(test)
    records = align_labels(records, labels, run.labels, str(test))
    cfg = run.config
    views = predict_views(
        run.model, cfg, records, clips=cfg.eval.clips, crops=cfg.eval.crops, batch_size=32
    )
    truth = label_sets(views.records, len(run.labels))
    return {
        "map_macro": map_macro(views.video_probs, truth),
        "map_micro": map_micro(views.video_probs, truth),
    }


def main() -> None:
    """Make the data, train and score every (mode, seed), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=30)
    args = parser.parse_args()
    out: Path = args.out
    synth = make_dataset(out / "train", per_class=args.per_class, seed=0, **DATA)
    test = make_dataset(out / "test", per_class=12, seed=7, speed=(1.2, 1.5), **DATA)
    sources = {"multi-label (BCE)": synth / MULTI_LABEL_LIST, "single-label (CE, first label)":
               first_label_list(synth)}  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {}
    for mode, source in sources.items():
        for seed in args.seeds:
            run_dir = out / "runs" / f"{mode.split()[0]}-seed{seed}"
            if not (run_dir / "model.safetensors").is_file():
                overrides = [
                    f"data.source={source}",
                    f"train.seed={seed}",
                    f"train.epochs={args.epochs}",
                    *CHEAP,
                ]
                train(load_config("demo", overrides), run_dir, progress=False, force=True)
            results.setdefault(mode, []).append(score(run_dir, test / MULTI_LABEL_LIST))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| training | test mAP macro | test mAP micro |")
    print("|---|---|---|")
    for mode, scores in results.items():
        cells = []
        for key in ("map_macro", "map_micro"):
            values = [s[key] for s in scores]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
        print(f"| {mode} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
