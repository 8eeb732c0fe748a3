"""Multi-label clips on real encoded videos (``data synth --multi-label``): the list format,
multi-hot targets and flips, the BCE loss, mixing, and a run that trains, evaluates (mAP),
predicts, calibrates and exports with per-class thresholds."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from motionfit.calibration import CALIBRATION_FILE
from motionfit.calibration_multi import calibrate_multi_label, fit_class_temperature
from motionfit.config import AugmentConfig, SamplingConfig, load_config
from motionfit.data.augment._mixing import VideoMixer
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import read_records
from motionfit.data.synthetic import MULTI_LABEL_LIST, SynthSpec, make_dataset, second_label
from motionfit.errors import ConfigError, DataError
from motionfit.evaluation import align_labels, evaluate_run
from motionfit.evaluation.multi_label import (
    THRESHOLDS_FILE,
    average_precision,
    choose_thresholds,
    load_thresholds,
)
from motionfit.export import export_run
from motionfit.models.data_config import resolve_model_defaults
from motionfit.predict import predict_videos
from motionfit.run import load_run, read_metrics
from motionfit.train.fit import train
from motionfit.train.multi_label import (
    multi_label_loss,
    positive_weights,
    refuse_multi_label,
    resolve_multi_label,
)

CLASSES = ("move_left", "move_right", "move_up", "move_down")
FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.clean_train_videos=4",
    "train.log_every_n_steps=1",
    "train.epochs=2",
    "train.class_weights=balanced",
    "eval.batch_size=8",
    "output.tensorboard=false",
    "augment.flip_label_map={move_left: move_right}",
]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """4 motion classes x 6 real h264 videos with two moving objects each (32x32)."""
    root = tmp_path_factory.mktemp("multi") / "synth"
    return make_dataset(
        root, classes=4, per_class=6, size=(32, 32), frames=(16, 20), multi_label=True
    )


@pytest.fixture(scope="module")
def run(synth, tmp_path_factory) -> Path:
    """A finished 2-epoch multi-label run (multi_label inferred from the list)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    config = load_config("demo", [f"data.source={synth / MULTI_LABEL_LIST}", *FAST])
    train(config, out, progress=False)
    return out


def test_synth_lists_both_motions(synth):
    spec = SynthSpec(classes=4, multi_label=True)  # the second label depends on seed, classes
    lines = (synth / MULTI_LABEL_LIST).read_text().splitlines()
    assert len(lines) == 24
    path, labels = lines[7].split()
    assert path == "videos/move_right_0001.mp4"
    assert labels.split(";") == sorted(
        {CLASSES[1], CLASSES[second_label(spec, 1, 1)]}, key=CLASSES.index
    )
    records, label_map = read_records(synth / MULTI_LABEL_LIST)
    assert label_map.names == CLASSES
    assert any(r.more_labels for r in records)
    assert all(r.path.is_file() for r in records)


def test_list_and_csv_readers_parse_several_labels(synth, tmp_path):
    video = synth / "videos" / "move_left_0000.mp4"
    (tmp_path / "plain.txt").write_text(f"{video} move_up;move_left\n{video} move_down\n")
    records, labels = read_records(tmp_path / "plain.txt")
    assert labels.names == ("move_down", "move_left", "move_up")
    assert records[0].labels == (1, 2) and records[0].label == 1
    assert records[1].labels == (0,) and records[1].more_labels == ()
    (tmp_path / "table.csv").write_text(f"path,labels\n{video},move_up|move_down\n")
    records, _ = read_records(tmp_path / "table.csv", labels=synth / "labels.txt")
    assert records[0].labels == (2, 3)
    (tmp_path / "bad.txt").write_text(f"{video} move_up\n{video} move_up;jump\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: unknown label 'jump'"):
        read_records(tmp_path / "bad.txt", labels=synth / "labels.txt")


def test_prepare_keeps_every_label(synth, tmp_path):
    from motionfit.data.prepare import prepare_dataset

    lines = (synth / MULTI_LABEL_LIST).read_text().splitlines()[:2]
    (tmp_path / "two.txt").write_text("".join(f"{synth}/{line}\n" for line in lines))
    result = prepare_dataset(tmp_path / "two.txt", tmp_path / "prepared", workers=1, progress=False)
    before, _ = read_records(tmp_path / "two.txt")
    after, _ = read_records(result.dataset)
    assert [r.labels for r in after] == [r.labels for r in before]
    assert any(r.more_labels for r in after)


def test_dataset_gives_multi_hot_targets_and_flips_every_label(synth):
    records, _ = read_records(synth / MULTI_LABEL_LIST)
    record = next(r for r in records if r.labels == (0, 2))  # move_left + move_up
    common = {
        "sampling": SamplingConfig(num_frames=4, stride=2),
        "multi_label": True,
        "num_classes": 4,
    }
    flip = AugmentConfig(crop_size=32, hflip=1.0)
    train_set = VideoClipDataset(
        [record], mode="train", augment=flip, flip_map={0: 1, 1: 0}, **common
    )
    assert train_set[0]["label"].tolist() == [0.0, 1.0, 1.0, 0.0]  # left -> right, up stays
    keep = AugmentConfig(crop_size=32, hflip=0.0)
    eval_set = VideoClipDataset([record], mode="eval", augment=keep, **common)
    assert eval_set[0]["label"].tolist() == [1.0, 0.0, 1.0, 0.0]
    repeated = VideoClipDataset([record], mode="train", augment=keep, repeated=2, **common)
    assert repeated[0]["label"].shape == (2, 4)


def test_bce_loss_with_smoothing_and_pos_weight_by_hand():
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # smoothing 0.2: targets 0.9 and 0.1; pos_weight 2 on class 0
    sig = 1 / (1 + math.exp(-2.0))
    class0 = -(2 * 0.9 * math.log(0.5) + 0.1 * math.log(0.5))
    class1 = -(0.1 * math.log(sig) + 0.9 * math.log(1 - sig))
    loss = multi_label_loss(logits, targets, 0.2, torch.tensor([2.0, 1.0]))
    assert float(loss) == pytest.approx((class0 + class1) / 2, rel=1e-6)
    plain = -(math.log(0.5) + math.log(1 - sig)) / 2
    assert float(multi_label_loss(logits, targets)) == pytest.approx(plain, rel=1e-6)
    # negatives / positives per class, clipped to [0.01, 100]
    weights = positive_weights(torch.tensor([1, 3, 4]), videos=4)
    assert weights.tolist() == pytest.approx([3.0, 1 / 3, 0.01])
    assert positive_weights(torch.tensor([1]), videos=1000).tolist() == [100.0]


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_mixing_mixes_label_vectors(mode):
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    videos = torch.rand(2, 3, 2, 8, 8)
    alphas = {"mixup_alpha": 1.0, "cutmix_alpha": 0.0}
    if mode == "cutmix":
        alphas = {"mixup_alpha": 0.0, "cutmix_alpha": 1.0}
    mixer = VideoMixer(3, prob=1.0, **alphas)
    result = mixer.mix(videos, targets, torch.Generator().manual_seed(3))
    assert result.mode == mode
    lam = result.lam[:, None]
    assert torch.allclose(result.targets, lam * targets + (1 - lam) * targets.flip(0))
    if mode == "cutmix":  # the share is the kept area
        kept = (result.videos[0] == videos[0]).float().mean()
        assert float(result.lam[0]) == pytest.approx(float(kept), abs=1e-6)


def test_thresholds_maximize_f1_and_ap_by_hand():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.7], [0.3, 0.6], [0.2, 0.2]])
    truth = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert average_precision(probs[:, 0], truth[:, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # class 0: cutting after 0.3 keeps both positives (F1 0.8): midway to 0.2
    assert choose_thresholds(probs, truth) == pytest.approx([0.25, 0.4])
    assert math.isnan(average_precision(probs[:, 0], torch.zeros(4)))


def test_single_label_only_settings_are_refused(synth, tmp_path):
    source = f"data.source={synth / MULTI_LABEL_LIST}"
    with pytest.raises(ConfigError, match=r"train\.balanced_sampler"):
        resolve_multi_label(load_config("demo", [source, "train.balanced_sampler=true"]))
    inferred = resolve_multi_label(load_config("demo", [source]))
    assert inferred.data.multi_label and inferred.train.monitor == "val/map"
    with pytest.raises(ConfigError, match=r"data\.multi_label.*sweep compares top-1"):
        refuse_multi_label(load_config("demo", [source]), "sweep")
    from motionfit.run import RunPaths
    from motionfit.train.datamodule import VideoDataModule

    single = resolve_model_defaults(load_config("demo", [source, *FAST]))
    with pytest.raises(DataError, match=r"data\.multi_label"):
        VideoDataModule.for_run(single, RunPaths(tmp_path / "x"))


def test_a_run_trains_on_map_and_saves_thresholds(run):
    rows = read_metrics(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(0.0 <= r["val_map"] <= 1.0 and 0.0 <= r["val_map_micro"] <= 1.0 for r in rows)
    assert "val_top1" not in rows[0] and "train_acc" not in rows[0]
    loaded = load_run(run)
    assert loaded.config.data.multi_label and loaded.config.train.monitor == "val/map"
    thresholds = load_thresholds(run / THRESHOLDS_FILE, loaded.labels.names)
    assert len(thresholds) == 4 and all(0.0 <= t <= 1.0 for t in thresholds)
    balance = list(csv.DictReader((run / "class_balance.csv").open()))
    assert any(float(row["loss_weight"]) != 1.0 for row in balance)  # pos_weight
    assert ";" in (run / "split" / "val.txt").read_text()  # the split keeps every label


def test_evaluate_writes_map_and_per_class_ap(run, synth, tmp_path):
    loaded = load_run(run)
    records, labels = read_records(synth / MULTI_LABEL_LIST)
    records = align_labels(records, labels, loaded.labels)[:8]
    result = evaluate_run(loaded, records, out_dir=tmp_path, diagnose=True)
    assert 0.0 < result["map_macro"] <= 1.0 and 0.0 < result["map_micro"] <= 1.0
    assert "top1" not in result and result["not_applicable"] == ["top1", "top5", "confusion"]
    assert set(result["diagnostics"]) == {"frozen", "shuffled", "reversed"}
    assert all(0.0 <= d["agreement"] <= 1.0 for d in result["diagnostics"].values())
    table = list(csv.DictReader((tmp_path / "per_class.csv").open()))
    assert [row["class"] for row in table] == list(CLASSES)
    assert {"ap", "threshold", "f1"} <= set(table[0])
    assert not (tmp_path / "confusion.png").exists()


def test_predict_answers_the_classes_above_their_thresholds(run, synth):
    loaded = load_run(run)
    thresholds = dict(zip(CLASSES, load_thresholds(run / THRESHOLDS_FILE, CLASSES), strict=True))
    videos = sorted((synth / "videos").glob("*.mp4"))[:3]
    result = predict_videos(loaded, videos, top_k=4)
    for prediction in result.predictions:
        expected = [s.label for s in prediction.top if s.probability >= thresholds[s.label]]
        assert prediction.above is not None
        assert [s.label for s in prediction.above] == expected
        assert prediction.label == ";".join(expected)
        assert [s["label"] for s in prediction.to_dict()["labels"]] == expected


def test_calibrate_per_class_and_export_carries_thresholds(run, synth, tmp_path):
    loaded = load_run(run)
    records, labels = read_records(synth / MULTI_LABEL_LIST)
    records = align_labels(records, labels, loaded.labels)
    result = calibrate_multi_label(loaded, records, "all")
    assert set(result["temperatures"]) == set(CLASSES)
    assert json.loads((run / CALIBRATION_FILE).read_text())["multi_label"] is True
    assert json.loads((run / THRESHOLDS_FILE).read_text())["chosen_on"] == "all"
    exported = export_run(loaded, tmp_path / "model.onnx", "onnx")
    output = json.loads(exported.sidecar_path.read_text())["output"]
    assert output["multi_label"] is True
    assert output["thresholds"] == load_thresholds(run / THRESHOLDS_FILE, CLASSES)
    assert output["temperatures"] == [result["temperatures"][name] for name in CLASSES]
    assert exported.max_abs_diff is not None and exported.max_abs_diff < 1e-4


def test_class_temperature_by_hand():
    # over-confident: probabilities 0.99 / 0.01 but right only 3 times in 4 -> T > 1
    probs = torch.tensor([0.99, 0.99, 0.99, 0.99, 0.01, 0.01, 0.01, 0.01])
    truth = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1])
    temperature = fit_class_temperature(probs, truth)
    scaled = torch.sigmoid(torch.logit(torch.tensor(0.99)) / temperature)
    assert float(scaled) == pytest.approx(0.75, abs=1e-3)
