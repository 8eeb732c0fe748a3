"""Videos and datasets in object storage, against a real S3 API server (moto's server mode) reached
through a TCP proxy that can cut connections mid-response; motionfit's own code is not mocked."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
import torch
from run_fixtures import make_run, run_cli
from s3_server import CREDENTIALS, CuttingProxy, list_keys, moto_server, upload_tree

from motionfit.config import load_config
from motionfit.data import storage
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.decode import probe, read_clip
from motionfit.data.prepare import use_manifests
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.errors import VideoDecodeError
from motionfit.run import read_metrics


@pytest.fixture(scope="module")
def proxy() -> Iterator[CuttingProxy]:
    """moto's S3 server behind a cutting proxy; the AWS variables point every client at it."""
    saved = dict(os.environ)
    with moto_server() as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])
        cutter = CuttingProxy(upstream_port=port)
        os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=cutter.url, AWS_MAX_ATTEMPTS="1")
        yield cutter
        cutter.close()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test downloads into its own cache, and forgets the copies earlier tests made."""
    monkeypatch.setenv("MOTIONFIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(storage, "RETRY_WAIT_S", 0.01)
    # s3fs and botocore retry too, with waits up to seconds: once each keeps the tests short
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)
    for url in list(storage._LOCAL_COPIES):
        storage.forget_local_copy(url)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and test sets (another seed) of the synthetic motion classes, 32x32 h264."""
    root = tmp_path_factory.mktemp("synth")
    common = {"classes": 4, "size": (32, 32), "frames": (16, 20)}
    return {
        "train": make_dataset(root / "train", per_class=6, seed=0, **common),
        "test": make_dataset(root / "test", per_class=3, seed=7, **common),
    }


def test_a_run_trains_and_evaluates_from_s3_paths(proxy, synth, tmp_path):
    upload_tree(proxy.url, synth["train"], "s3://videos/train")
    upload_tree(proxy.url, synth["test"], "s3://videos/test")
    overrides = [
        "data.num_workers=2",  # a filesystem per worker process
        "train.epochs=2",
        "train.batch_size=4",
        "eval.batch_size=8",
        "output.tensorboard=false",
    ]
    argv = ["train", "--config", "demo", "--data", "s3://videos/train", "--out"]
    code = run_cli([*argv, str(tmp_path / "run"), "--quiet", *[f"--set={o}" for o in overrides]])
    assert code == 0
    assert len(read_metrics(tmp_path / "run" / "metrics.csv")) == 2
    split = (tmp_path / "run" / "split" / "train.txt").read_text()
    assert "s3://videos/train/" in split
    code = run_cli(["evaluate", str(tmp_path / "run"), "--data", "s3://videos/test", "--quiet"])
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert metrics["num_videos"] == 12
    # every video went through the local cache: one copy per object
    assert len(list((tmp_path / "cache" / "remote").glob("*.mp4"))) == 24 + 12


def test_a_list_in_a_bucket_names_relative_and_absolute_urls(proxy, synth, real_videos):
    upload_tree(proxy.url, synth["test"], "s3://lists/clips")
    first = sorted((synth["test"] / "move_left").glob("*.mp4"))[0].name
    second = sorted((synth["test"] / "move_right").glob("*.mp4"))[0].name
    lines = f"clips/move_left/{first} move_left\ns3://lists/clips/move_right/{second} move_right\n"
    local = synth["test"].parent / "list.txt"
    local.write_text(lines)
    import boto3

    boto3.client("s3", endpoint_url=proxy.url).upload_file(str(local), "lists", "train.txt")
    records, labels = read_records("s3://lists/train.txt")
    assert [str(r.path) for r in records] == [
        f"s3://lists/clips/move_left/{first}",
        f"s3://lists/clips/move_right/{second}",
    ]
    assert labels.names == ("move_left", "move_right")
    remote = read_clip(records[0].path, [0, 3, 9])
    assert torch.equal(remote, read_clip(synth["test"] / "move_left" / first, [0, 3, 9]))


def test_a_connection_cut_mid_read_is_retried(proxy, real_videos, tmp_path):
    video = next(p for p in real_videos if p.suffix == ".mp4")
    upload_tree(proxy.url, video.parent, "s3://cut/real")
    url = f"s3://cut/real/{video.name}"
    proxy.cuts, before = 1, proxy.cut_count
    meta = probe(url)
    assert proxy.cut_count == before + 1, "the proxy never cut the download"
    assert meta == probe(video)
    assert torch.equal(read_clip(url, [0, 10, 20], 64), read_clip(video, [0, 10, 20], 64))
    assert not list((tmp_path / "cache" / "remote").glob(".*part")), "a partial copy was left"


def test_an_object_that_cannot_be_fetched_is_a_bad_file_naming_its_url(proxy, synth, tmp_path):
    upload_tree(proxy.url, synth["test"], "s3://flaky/set")
    records, _ = read_records("s3://flaky/set")
    config = load_config("demo", ["sampling.num_frames=8", "augment.crop_size=32"])
    # every response for the first video is cut: it never arrives
    proxy.cuts, proxy.only, proxy.after_bytes = 1000, str(records[0].path)[4:], 100
    try:
        with pytest.raises(VideoDecodeError, match=r"^s3://flaky/set/\S+: \w+ \w+ after 3 tries"):
            probe(records[0].path)
        with pytest.warns(UserWarning, match="after 3 tries"):
            dataset = VideoClipDataset(
                records,
                mode="eval",
                sampling=config.sampling,
                augment=config.augment,
                bad_files="skip",
                max_bad_fraction=0.5,
            )
            item = dataset[0]  # the skip policy stands in another video
    finally:
        proxy.cuts, proxy.only, proxy.after_bytes = 0, "", 4096
    assert item["video"].shape[-1] == 32
    assert not list((tmp_path / "cache" / "remote").glob(".*part"))


def test_the_cache_is_bounded_and_a_replaced_object_is_fetched_again(
    proxy, synth, tmp_path, monkeypatch
):
    upload_tree(proxy.url, synth["test"], "s3://bounded/a")
    records, _ = read_records("s3://bounded/a", format="unlabeled")
    size = os.path.getsize(storage.local_copy(records[0].path))
    monkeypatch.setenv("MOTIONFIT_REMOTE_CACHE_GB", str(2.5 * size / 1024**3))
    for record in records:
        probe(record.path)
    kept = list((tmp_path / "cache" / "remote").glob("*.mp4"))
    assert 1 <= len(kept) <= 3 < len(records) == 12
    # a new version of an object (another ETag) is a new copy, never the stale one
    other = sorted((synth["test"] / "move_up").glob("*.mp4"))[0]
    import boto3

    key = str(records[0].path).removeprefix("s3://bounded/")
    boto3.client("s3", endpoint_url=proxy.url).upload_file(str(other), "bounded", key)
    storage.forget_local_copy(records[0].path)
    assert torch.equal(read_clip(records[0].path, [0, 5]), read_clip(other, [0, 5]))


def test_data_prepare_reads_a_bucket_and_writes_to_one(proxy, synth, tmp_path):
    upload_tree(proxy.url, synth["test"], "s3://prep/source")
    out = "s3://prep/prepared"
    code = run_cli(["data", "prepare", "s3://prep/source", out, "--short-side", "32"])
    assert code == 0
    keys = list_keys(proxy.url, out)
    assert "manifest.jsonl" in keys and "labels.txt" in keys
    assert sum(k.endswith(".mp4") for k in keys) == 12
    records, labels = read_records(out)
    assert len(records) == 12 and labels == read_records(synth["test"])[1]
    # training from the bucket uses the manifest's packet indexes
    assert use_manifests([r.path for r in records]) == 12
    assert probe(records[0].path).num_frames >= 16


def test_a_url_whose_filesystem_is_missing_is_one_line_naming_the_extra(capsys):
    if importlib.util.find_spec("adlfs") is not None:
        pytest.skip("adlfs is installed here")
    code = run_cli(["data", "inspect", "az://container/videos"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        'error: az://container/videos: reading az:// needs adlfs (pip install "motionfit[azure]")'
    ]


def test_predict_reads_urls_folders_and_lists_in_a_bucket_over_two_processes(
    proxy, synth, tmp_path
):
    upload_tree(proxy.url, synth["test"], "s3://predict/test")
    run = make_run(tmp_path / "run", synth["train"])
    left = sorted((synth["test"] / "move_left").glob("*.mp4"))
    listed = tmp_path / "videos.txt"
    listed.write_text(f"s3://predict/test/move_left/{left[0].name}\ns3://predict/test/gone.mp4\n")
    out = tmp_path / "predictions.jsonl"
    argv = ["predict", str(listed), "s3://predict/test/move_up", "--run", str(run)]
    assert run_cli([*argv, "--devices", "2", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    up = sorted(p.name for p in (synth["test"] / "move_up").glob("*.mp4"))
    read = [r["video"] for r in rows if "error" not in r]
    assert read == [
        f"s3://predict/test/move_left/{left[0].name}",
        *[f"s3://predict/test/move_up/{name}" for name in up],
    ]
    assert all(r["top_k"] for r in rows if "error" not in r)
    errors = {r["video"]: r["error"] for r in rows if "error" in r}
    assert list(errors) == ["s3://predict/test/gone.mp4"]
    assert "no such file" in errors["s3://predict/test/gone.mp4"]
