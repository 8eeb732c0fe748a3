"""motionfit evaluate: metrics against a hand computation, multi-view averaging, result files,
class matching by name, unreadable videos and CLI errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from run_fixtures import assert_informative_png, make_run, make_videos, run_cli

from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.transforms import VideoNormalize
from motionfit.errors import DataError
from motionfit.evaluation import align_labels, evaluate_run
from motionfit.evaluation.inference import predict_views
from motionfit.evaluation.metrics import compute_metrics
from motionfit.evaluation.plots import confusion_figure, png_bytes
from motionfit.run import load_run

NAMES = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_videos(tmp_path_factory.mktemp("videos"), classes=3, per_class=6, seed=3)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, videos: Path) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "run", videos, train_steps=45)


def known_confusion() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """8 videos, 6 classes, 2 views. Truth/prediction pairs: (0,0) (0,0) (0,1) (1,1) (1,2)
    (2,2) (2,5) (3,3); video 6's true class has the lowest score (a top-5 miss); view 1 of
    video 0 predicts class 1 (a clip-level miss that the average outvotes)."""
    truth = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
    predicted = [0, 0, 1, 1, 2, 2, 5, 3]
    logits = torch.zeros(8, 6)
    for i, (t, p) in enumerate(zip(truth.tolist(), predicted, strict=True)):
        logits[i, p] = 3.0
        if t != p:
            logits[i, t] = -2.0 if i == 6 else 1.0
    probs = logits.softmax(dim=1)
    views = torch.stack([probs, probs], dim=1)
    views[0, 1] = torch.tensor([0.4, 0.45, 0.05, 0.05, 0.05, 0.0])
    return views.mean(dim=1), views, truth


def test_metrics_match_a_hand_computation_on_a_known_confusion() -> None:
    video_probs, view_probs, truth = known_confusion()
    m = compute_metrics(video_probs, view_probs, truth, NAMES)
    assert m.confusion == [
        [2, 1, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 1],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    assert m.top1 == pytest.approx(5 / 8)
    assert m.top5 == pytest.approx(7 / 8) and m.top_k == 5
    # mean recall over the 4 classes that have test videos
    assert m.mean_class_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1 / 2 + 1) / 4)
    assert m.clip_top1 == pytest.approx(9 / 16)
    # classes seen as truth or prediction: a b c d f (e never occurs)
    assert m.macro_precision == pytest.approx((1 + 0.5 + 0.5 + 1 + 0) / 5)
    assert m.macro_f1 == pytest.approx((0.8 + 0.5 + 0.5 + 1 + 0) / 5)
    by_name = {c.name: c for c in m.per_class}
    assert (by_name["a"].support, by_name["a"].predicted) == (3, 2)
    assert by_name["a"].precision == pytest.approx(1.0)
    assert by_name["a"].recall == pytest.approx(2 / 3)
    assert by_name["a"].f1 == pytest.approx(0.8)
    assert by_name["f"].support == 0 and by_name["f"].predicted == 1
    assert [(c.truth, c.prediction, c.count) for c in m.top_confusions] == [
        ("a", "b", 1),
        ("b", "c", 1),
        ("c", "f", 1),
    ]
    assert m.num_videos == 8 and m.views_per_video == 2


def test_top5_is_top_k_of_all_classes_when_there_are_fewer_than_five() -> None:
    probs = torch.tensor([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    m = compute_metrics(probs, probs[:, None], torch.tensor([0, 0]), ["x", "y", "z"])
    assert (m.top_k, m.top5, m.top1) == (3, 1.0, 0.5)


def test_multi_view_average_equals_the_mean_of_per_clip_softmax(
    trained_run: Path, videos: Path
) -> None:
    run = load_run(trained_run)
    records, _ = read_records(videos)
    records = records[::3]  # 6 videos, 2 of each class
    # 3 clips x 3 crops = 9 views; 20 clips per batch = 2 videos per batch, a partial last one
    views = predict_views(run.model, run.config, records, clips=3, crops=3, batch_size=20)
    assert views.view_probs.shape == (6, 9, 3)
    dataset = VideoClipDataset(
        records, mode="eval", sampling=run.config.sampling, augment=run.config.augment,
        num_clips=3, crops=3,
    )  # fmt: skip
    normalize = VideoNormalize.from_config(run.config.augment)
    with torch.no_grad():
        for i in range(len(records)):
            clips = normalize(dataset[i]["video"])
            expected = run.model(clips).softmax(dim=1)
            torch.testing.assert_close(views.view_probs[i], expected, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(views.video_probs[i], expected.mean(dim=0), atol=1e-5,
                                       rtol=1e-4)  # fmt: skip
    # the views are different clips and crops, not one clip repeated
    assert (views.view_probs.std(dim=1) > 1e-4).any()


def test_evaluate_run_writes_consistent_result_files(
    trained_run: Path, videos: Path, tmp_path: Path
) -> None:
    run = load_run(trained_run)
    records, labels = read_records(videos)
    result = evaluate_run(run, records, out_dir=tmp_path, data_name="synthetic")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["num_videos"] == 18 and saved["clips"] == 2 and saved["crops"] == 1
    for key in ("top1", "top5", "mean_class_accuracy", "clip_top1"):
        assert 0.0 <= saved[key] <= 1.0
    # trained on these videos for 45 steps (top-1 0.83 here): clearly above chance (1/3)
    assert saved["top1"] >= 0.6
    with (tmp_path / "mistakes.csv").open() as handle:
        mistakes = list(csv.DictReader(handle))
    assert saved["top1"] == pytest.approx(1 - len(mistakes) / 18)
    assert all(row["truth"] != row["prediction"] for row in mistakes)
    confidences = [float(row["confidence"]) for row in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    with (tmp_path / "per_class.csv").open() as handle:
        per_class = list(csv.DictReader(handle))
    assert [row["class"] for row in per_class] == list(labels.names)
    assert sum(int(row["support"]) for row in per_class) == 18
    confusion = saved["confusion"]
    for k, row in enumerate(per_class):
        assert float(row["recall"]) == pytest.approx(confusion[k][k] / 6, abs=1e-4)
    assert sum(confusion[k][k] for k in range(3)) == 18 - len(mistakes)
    assert_informative_png(tmp_path / "confusion.png")
    # by hand from the same views: argmax of the averaged softmax, per-class recall
    views = predict_views(run.model, run.config, records, clips=2, crops=1, batch_size=8)
    truth = views.targets.numpy()
    predicted = views.video_probs.argmax(dim=1).numpy()
    recalls = [(predicted[truth == k] == k).mean() for k in range(3)]
    assert saved["top1"] == pytest.approx((predicted == truth).mean())
    assert saved["mean_class_accuracy"] == pytest.approx(sum(recalls) / 3)
    clip_predicted = views.view_probs.argmax(dim=2).numpy()
    assert saved["clip_top1"] == pytest.approx((clip_predicted == truth[:, None]).mean())


def test_classes_are_matched_by_name_not_by_position(
    trained_run: Path, videos: Path, tmp_path: Path
) -> None:
    run = load_run(trained_run)
    records, labels = read_records(videos)
    reference = evaluate_run(run, records, out_dir=tmp_path / "folder")
    # the same videos listed with a labels.txt in reversed class order
    reversed_names = list(reversed(labels.names))
    LabelMap.from_names(reversed_names).save(tmp_path / "labels.txt")
    (tmp_path / "test.txt").write_text(
        "".join(f"{r.path} {labels.names[r.label]}\n" for r in records)
    )
    listed, listed_labels = read_records(tmp_path / "test.txt")
    assert listed_labels.names == tuple(reversed_names)
    aligned = align_labels(listed, listed_labels, run.labels, "test.txt")
    result = evaluate_run(run, aligned, out_dir=tmp_path / "list")
    assert result["confusion"] == reference["confusion"]
    assert result["top1"] == reference["top1"]


def test_unknown_class_is_an_error_naming_it(trained_run: Path, videos: Path) -> None:
    run = load_run(trained_run)
    records, labels = read_records(videos)
    other = LabelMap.from_names([*labels.names[:2], "juggling"])
    with pytest.raises(DataError, match="'juggling' is not a class of the run"):
        align_labels(records, other, run.labels, "test.txt")


def test_unreadable_videos_are_listed_and_left_out(
    trained_run: Path, videos: Path, tmp_path: Path
) -> None:
    run = load_run(trained_run)
    records, _ = read_records(videos)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    records = [*records[:4], VideoRecord(broken, 0)]
    result = evaluate_run(run, records, out_dir=tmp_path / "out", clips=1)
    assert result["num_videos"] == 4
    assert [u["video"] for u in result["unreadable"]] == [str(broken)]


def test_confusion_plot_stays_legible_with_100_classes() -> None:
    names = [f"action_{i:03d}" for i in range(100)]
    generator = torch.Generator().manual_seed(0)
    confusion = torch.randint(0, 3, (100, 100), generator=generator) + torch.eye(100).long() * 20
    data = png_bytes(confusion_figure(confusion.tolist(), names))
    # 100 labels need room: at least 13 px per class, so each label has a >= 6 pt row
    assert_informative_png(data, min_width=100 * 13, min_height=100 * 13)


def test_cli_evaluate_writes_files_and_prints_json(
    trained_run: Path, videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = run_cli(["evaluate", str(trained_run), "--data", str(videos), "--clips", "1",
                    "--out", str(tmp_path), "--json"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["num_videos"] == 18 and printed["clips"] == 1
    assert {p.name for p in tmp_path.iterdir()} >= {
        "metrics.json", "confusion.png", "per_class.csv", "mistakes.csv"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "{missing}", "--data", "{videos}"], "run directory or checkpoint not found"),
        (["evaluate", "{run}", "--data", "{missing}"], "dataset source not found"),
        (["evaluate", "{run}", "--data", "{videos}", "--crops", "2"], "--crops must be 1 or 3"),
        (["evaluate", "{run}", "--data", "{videos}", "--clips", "0"], "--clips must be >= 1"),
        (["evaluate", "{run}"], "Missing option '--data'"),
    ],
)
def test_cli_evaluate_user_errors_exit_2_with_one_line(
    args: list[str],
    message: str,
    trained_run: Path,
    videos: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    values = {"run": trained_run, "videos": videos, "missing": tmp_path / "nope"}
    code = run_cli([a.format(**values) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
