"""One protocol: the validation score that picks the best checkpoint is the score ``evaluate``
gives on the same videos (same clips, crops and averaging), on real footage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motionfit.config import load_config
from motionfit.run import read_metrics
from motionfit.train.fit import evaluate_test_set, train

# four real clips, each cut into one-second segments: a class per source clip
SOURCES = (
    "h264_340x256_30fps.mp4",
    "kinetics_armwrestling_340x256_28fps.mp4",
    "structuralize_426x240_29.97fps.mp4",
    "mpeg4_with_audio_320x240_25fps.avi",
)
SEGMENT_SECONDS = 1.0


def segment_list(real_videos_dir: Path, out: Path) -> Path:
    """A list file of ``path label start end`` lines: one-second segments of the real clips."""
    from motionfit.data.decode import probe

    lines = []
    for label, name in enumerate(SOURCES):
        path = real_videos_dir / name
        duration = probe(path).duration
        starts = [k * SEGMENT_SECONDS for k in range(int(duration // SEGMENT_SECONDS))]
        lines += [f"{path} {label} {s:.3f} {s + SEGMENT_SECONDS:.3f}" for s in starts]
    out.write_text("\n".join(lines) + "\n")
    return out


def short_span_config(data: Path, extra: list[str]):
    """The demo recipe on the segments: 8-frame clips at stride 1 (a quarter of a segment), an
    RGB model that can tell the clips apart, a few epochs."""
    return load_config(
        "demo",
        [
            f"data.source={data}",
            "model.name=motioncnn_tiny_rgb",
            "sampling.num_frames=8",
            "sampling.stride=1",
            "augment.crop_size=32",
            "data.num_workers=0",
            "train.epochs=4",
            "train.batch_size=4",
            "train.clean_train_videos=0",
            "eval.batch_size=16",
            *extra,
        ],
    )


def test_validation_scores_what_evaluate_scores_on_the_same_videos(real_videos_dir, tmp_path):
    data = segment_list(real_videos_dir, tmp_path / "segments.txt")
    config = short_span_config(data, ["eval.clips=3"])
    assert config.eval.validation_views() == (3, 1)  # unset val_clips follow eval.clips
    result = train(config, tmp_path / "run", progress=False)
    rows = read_metrics(result.run.metrics)
    best = max(float(row["val_top1"]) for row in rows)
    assert result.best_score == pytest.approx(best, abs=1e-5)  # metrics.csv: 6 decimals
    assert best > 0.5  # it learned something: agreement at chance would prove little
    metrics = evaluate_test_set(result.run, str(result.run.split_dir / "val.txt"))
    assert metrics["num_videos"] >= 8
    assert abs(metrics["top1"] - best) <= 0.02, (metrics["top1"], best)
    # nothing extra to score: validation already was the evaluate protocol
    assert not (result.run.root / "eval_val").exists()


def test_a_cheaper_validation_is_scored_the_evaluate_way_at_the_end(
    real_videos_dir, tmp_path, capsys
):
    data = segment_list(real_videos_dir, tmp_path / "segments.txt")
    config = short_span_config(data, ["eval.clips=3", "eval.val_clips=1", "train.epochs=1"])
    result = train(config, tmp_path / "run", progress=True)
    said = capsys.readouterr().err
    assert "validation scored 1 clip(s) x 1 crop(s) per video; evaluate scores 3 x 1" in said
    stored = json.loads((result.run.root / "eval_val" / "metrics.json").read_text())
    again = evaluate_test_set(result.run, str(result.run.split_dir / "val.txt"))
    assert stored["top1"] == pytest.approx(again["top1"])
