"""--devices N: features, evaluate and predict on 2 CPU processes give what one device gives, in
input order, with an unreadable file among the inputs (issue 23, part 3)."""

from __future__ import annotations

import csv
import json
import multiprocessing
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from motionfit.devices import Shard, inference_devices, make_shards, run_shards
from motionfit.errors import ConfigError, DataError, RunError

# The processes of run_shards import this module to find _send_or_fail: what else it needs
# (run_fixtures: the models, the synthetic data) is imported where used.

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from run_fixtures import make_videos

    return make_videos(tmp_path_factory.mktemp("videos"), classes=3, per_class=3, seed=5)


@pytest.fixture(scope="module")
def test_list(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 9 videos with their class, an unreadable file fourth (a list file of 10 lines)."""
    folder = tmp_path_factory.mktemp("list")
    broken = folder / "broken.mp4"
    broken.write_bytes(b"not a video\n" * 40)
    lines = [f"{p} {p.parent.name}" for p in sorted(videos.glob("*/*.mp4"))]
    lines.insert(3, f"{broken} {sorted(videos.glob('*/*.mp4'))[3].parent.name}")
    path = folder / "test.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def run_dir(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from run_fixtures import make_run

    return make_run(tmp_path_factory.mktemp("run") / "run", videos, train_steps=6)


def test_evaluate_on_two_processes_writes_the_same_metrics(
    run_dir: Path, test_list: Path, tmp_path: Path
) -> None:
    # 2 videos per batch (2 clips, --batch-size 4): 5 batches dealt 3 + 2; --diagnose seeds each
    # video's shuffle by its input position, so a shard must keep the global positions
    from run_fixtures import run_cli

    outs = {n: tmp_path / f"eval{n}" for n in (1, 2)}
    for n, out in outs.items():
        argv = ["evaluate", str(run_dir), "--data", str(test_list), "--out", str(out), "-q",
                "--batch-size", "4", "--diagnose", "--devices", str(n)]  # fmt: skip
        assert run_cli(argv) == 0
    one, two = (json.loads((out / "metrics.json").read_text()) for out in outs.values())
    assert one["num_videos"] == 9 and [u["video"] for u in one["unreadable"]] == [
        str(test_list.parent / "broken.mp4")
    ]
    assert two == one
    for name in ("per_class.csv", "mistakes.csv"):
        assert (outs[2] / name).read_text() == (outs[1] / name).read_text()


def test_predict_on_two_processes_gives_the_same_rows_in_input_order(
    run_dir: Path, test_list: Path, tmp_path: Path
) -> None:
    from run_fixtures import run_cli

    paths = [line.split()[0] for line in test_list.read_text().splitlines()]
    listing = tmp_path / "videos.txt"
    listing.write_text("\n".join(paths) + "\n")
    rows = {}
    for n in (1, 2):
        out = tmp_path / f"pred{n}.csv"
        argv = ["predict", str(listing), "--run", str(run_dir), "--out", str(out), "--devices",
                str(n), "-q"]  # fmt: skip
        assert run_cli(argv) == 0
        with out.open(newline="") as handle:
            rows[n] = list(csv.DictReader(handle))
    readable = [p for p in paths if not p.endswith("broken.mp4")]
    assert [r["video"] for r in rows[1]] == [*readable, paths[3]]  # readable ones, then errors
    assert [r["video"] for r in rows[2]] == [r["video"] for r in rows[1]]
    assert rows[2][-1]["error"] and not rows[2][-1]["label"]
    for a, b in zip(rows[1], rows[2], strict=True):
        assert (a["label"], a["error"]) == (b["label"], b["error"])
        top_a, top_b = json.loads(a["top_k"] or "[]"), json.loads(b["top_k"] or "[]")
        assert [s["label"] for s in top_a] == [s["label"] for s in top_b]
        np.testing.assert_allclose(
            [s["probability"] for s in top_a], [s["probability"] for s in top_b], atol=2e-6
        )


FEATURE_SETTINGS = [
    "model.head=linear", "data.num_workers=0", "eval.val_clips=2", "eval.batch_size=4",
    "train.clean_train_videos=0", "data.max_bad_fraction=0.5",
]  # fmt: skip


def test_features_on_two_processes_fill_the_same_cache(videos: Path, tmp_path: Path) -> None:
    from motionfit.features.cache import FeatureCache
    from motionfit.features.extract import extract_features, features_config

    data = tmp_path / "data"
    for video in sorted(videos.glob("*/*.mp4")):
        (data / video.parent.name).mkdir(parents=True, exist_ok=True)
        (data / video.parent.name / video.name).symlink_to(video)
    (data / video.parent.name / "zz_broken.mp4").write_bytes(b"not a video\n" * 40)
    config, weights = features_config("vjepa2_tiny", str(data), overrides=FEATURE_SETTINGS)
    caches = {
        n: extract_features(config, weights, tmp_path / f"f{n}", train_views=2, devices=n)
        for n in (1, 2)
    }
    one, two = caches[1], caches[2]
    assert len(one.left_out) == 1 and two.left_out == one.left_out
    assert two.rows == one.rows and two.meta == one.meta
    assert not two.pending()
    np.testing.assert_array_equal(two.labels, one.labels)
    np.testing.assert_allclose(
        np.asarray(two.tokens, np.float32), np.asarray(one.tokens, np.float32), atol=1e-3
    )
    assert np.abs(np.asarray(one.tokens, np.float32)).sum() > 0
    for name in ("left_out.tsv", "index.csv"):
        assert (two.root / name).read_text() == (one.root / name).read_text()
    lines = {
        n: sorted((c.root / "bad_files.tsv").read_text().splitlines()) for n, c in caches.items()
    }
    assert lines[2] == lines[1] and len(lines[1]) == 1
    assert FeatureCache(two.root).check_complete() is None


def test_batches_are_dealt_round_robin_and_devices_clamped_to_the_batches() -> None:
    shards = make_shards([CPU, CPU], items=7, batch=2)
    assert [s.indices for s in shards] == [(0, 1, 4, 5), (2, 3, 6)]
    with pytest.warns(UserWarning, match="3 batch"):
        shards = make_shards([CPU] * 4, items=5, batch=2)
    assert [s.indices for s in shards] == [(0, 1), (2, 3), (4,)]
    assert [s.indices for s in make_shards([CPU], items=3)] == [(0, 1, 2)]


def test_devices_beyond_the_visible_gpus_are_a_config_error() -> None:
    visible = torch.cuda.device_count()
    with pytest.raises(ConfigError, match=f"only {visible} CUDA device"):
        inference_devices(max(2, visible + 1), "cuda")
    with pytest.raises(ConfigError, match=">= 1"):
        inference_devices(0)
    assert inference_devices(2, "cpu") == [CPU, CPU]


def test_cli_refuses_zero_devices(run_dir: Path, test_list: Path) -> None:
    from run_fixtures import run_cli

    assert run_cli(["predict", str(test_list), "--run", str(run_dir), "--devices", "0"]) == 2


def _send_or_fail(shard: Shard, send) -> None:
    """Shard 0 would work for minutes; shard 1 warns, sends its indices, then fails as a bad
    data set does."""
    if shard.rank == 0:
        time.sleep(300)
    warnings.warn("from shard 1", UserWarning, stacklevel=1)
    send(shard.indices)
    raise DataError("3 of 4 videos are unreadable")


def test_a_worker_error_reaches_the_caller_as_the_same_error_and_ends_the_others() -> None:
    received: list = []
    shards = make_shards([CPU, CPU], items=2)
    start = time.monotonic()
    with pytest.warns(UserWarning, match="from shard 1"), pytest.raises(DataError, match="3 of 4"):
        run_shards(_send_or_fail, shards, received.append)
    assert received == [(1,)]  # a shard's messages arrive in its order: data, then the error
    assert time.monotonic() - start < 200  # shard 0 was stopped, not waited for


def test_a_worker_that_ends_without_its_results_is_a_run_error() -> None:
    from motionfit.devices import _handle

    class Killed:  # what the kernel's OOM killer leaves: a closed pipe, an exit code
        exitcode = -9

        def join(self, timeout: float | None = None) -> None:
            del timeout

    reader, writer = multiprocessing.Pipe(duplex=False)
    writer.close()
    readers = {reader: (Shard(1, CPU, (1,)), Killed())}
    with pytest.raises(
        RunError, match=r"device 1 \(cpu\) ended without its results \(exit code -9"
    ):
        _handle(readers, reader, lambda _: None)  # type: ignore[arg-type]
