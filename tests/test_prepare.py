"""``motionfit data prepare``: the copy keeps structure, labels, frames and timestamps; it resumes
after a kill, lists bad inputs, and never writes over its input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import numbered_frames
from PIL import Image
from test_decode import vfr_times, write_vfr_video

from motionfit.cli.main import main
from motionfit.data import _pyav, decode
from motionfit.data.decode import probe, read_clip
from motionfit.data.encode import write_video
from motionfit.data.prepare import (
    MANIFEST,
    SKIPPED,
    PrepareSettings,
    load_manifest,
    prepare_dataset,
    use_manifests,
)
from motionfit.data.records import LabelMap, read_records
from motionfit.errors import ConfigError, DataError

SMALL = PrepareSettings(short_side=32, gop=4, crf=18)


def frame_times(path: Path) -> np.ndarray:
    """Presentation times (s, from the first frame) of every frame of a full PyAV decode."""
    with av.open(str(path)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    return np.asarray(times) - times[0]


def bar_columns(frames) -> np.ndarray:
    """Column of the bright bar in each frame (see ``numbered_frames``), as a fraction of the
    width."""
    image = frames.float().mean(dim=1)[:, -4:, :].mean(dim=1)  # rows below the green band
    return image.argmax(dim=1).numpy() / frames.shape[-1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes (order fixed by labels.txt), mp4 with B-frames, avi with audio, a VFR mp4,
    a folder of PNG frames and one file that is not a video."""
    root = tmp_path_factory.mktemp("prepare") / "videos"
    write_video(root / "walk" / "a.mp4", numbered_frames(30), fps=25, gop=10)
    avi = root / "walk" / "sub" / "b.avi"
    write_video(avi, numbered_frames(20), fps=10, codec="mpeg4", audio=True)
    write_vfr_video(root / "run" / "vfr.mp4", numbered_frames(24), vfr_times(24))
    (root / "run" / "frames.v1").mkdir()
    for k, image in enumerate(numbered_frames(12)):
        Image.fromarray(image).save(root / "run" / "frames.v1" / f"img_{k + 1:05d}.png")
    (root / "run" / "broken.mp4").write_bytes(b"not a video at all")
    LabelMap.from_names(["walk", "run"]).save(root / "labels.txt")
    return root


@pytest.fixture(scope="module")
def prepared(dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("prepared") / "out"
    return out, prepare_dataset(dataset, out, SMALL, workers=1)


def test_structure_labels_and_skipped_inputs(dataset: Path, prepared) -> None:
    out, result = prepared
    assert result.dataset == out and result.prepared == 4 and result.reused == 0
    assert [(p.name, "not a readable video" in r) for p, r in result.skipped] == [
        ("broken.mp4", True)
    ]
    assert (out / SKIPPED).read_text().startswith(f"{dataset / 'run' / 'broken.mp4'}\t")
    before, labels_before = read_records(dataset)
    after, labels_after = read_records(out)
    assert labels_after.names == labels_before.names == ("walk", "run")
    relative = {r.path.relative_to(dataset): r.label for r in before}
    del relative[Path("run/broken.mp4")]
    relative = {
        (p.with_name(p.name + ".mp4") if p.name == "frames.v1" else p.with_suffix(".mp4")): label
        for p, label in relative.items()
    }
    assert {r.path.relative_to(out): r.label for r in after} == relative
    assert not [p for p in out.rglob("*") if p.is_file() and ".part" in p.name]


def test_frames_timestamps_and_pixels_are_preserved(dataset: Path, prepared) -> None:
    out, _ = prepared
    for name in ("walk/a.mp4", "walk/sub/b.avi", "run/vfr.mp4", "run/frames.v1"):
        source, copy = dataset / name, out / Path(name).with_suffix(".mp4")
        if name == "run/frames.v1":  # images: 30 fps
            copy = out / "run" / "frames.v1.mp4"
            assert np.allclose(frame_times(copy), np.arange(12) / 30, atol=1e-3)
        else:
            assert np.allclose(frame_times(copy), frame_times(source), atol=1e-3), name
        meta = probe(copy)
        assert (meta.num_frames, min(meta.width, meta.height)) == (probe(source).num_frames, 32)
        everything = list(range(meta.num_frames))
        original = read_clip(source, everything, short_side=32)
        columns = bar_columns(read_clip(copy, everything))
        assert np.allclose(columns, bar_columns(original), atol=0.05), name
    with av.open(str(out / "walk" / "sub" / "b.mp4")) as container:
        assert not container.streams.audio
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")


def test_manifest_describes_each_copy_and_replaces_probing(
    prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, result = prepared
    entries = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    assert sorted(e["path"] for e in entries) == [
        "run/frames.v1.mp4",
        "run/vfr.mp4",
        "walk/a.mp4",
        "walk/sub/b.mp4",
    ]
    for entry in entries:
        meta = probe(out / entry["path"])
        assert (entry["frames"], entry["width"], entry["height"]) == (
            meta.num_frames,
            meta.width,
            meta.height,
        )
        assert entry["fps"] == pytest.approx(meta.fps) and entry["duration"] > 0
        assert entry["key_frames"] == list(range(0, entry["frames"], 4))  # --gop 4 only
    known = load_manifest(out / MANIFEST)
    assert set(known) == {out / e["path"] for e in entries}

    def no_demux(path: Path):
        raise AssertionError(f"probed {path}")

    monkeypatch.setattr(decode, "_KNOWN_INDEXES", {})
    monkeypatch.setattr(_pyav, "index_video", no_demux)
    decode._cached_source.cache_clear()
    assert use_manifests([out / "walk" / "a.mp4", out / "run" / "vfr.mp4"]) == 4
    assert read_clip(out / "walk" / "a.mp4", [0, 17, 29]).shape[0] == 3
    assert probe(out / "run" / "vfr.mp4").num_frames == 24
    os.utime(out / "walk" / "a.mp4", ns=(1, 1))  # a changed file is probed again
    with pytest.raises(AssertionError, match="probed"):
        probe(out / "walk" / "a.mp4")
    decode._cached_source.cache_clear()


def test_constant_frame_rate_on_request(dataset: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    vfr = write_vfr_video(source / "x" / "v.mp4", numbered_frames(24), vfr_times(24))
    result = prepare_dataset(source, tmp_path / "out", PrepareSettings(short_side=32, fps=10))
    copy = tmp_path / "out" / "x" / "v.mp4"
    times = frame_times(copy)
    duration = probe(vfr).duration
    assert len(times) == round(duration * 10) and np.allclose(np.diff(times), 0.1)
    # each output frame is the source frame on screen at its time
    source_times = frame_times(vfr)
    shown = np.searchsorted(source_times, times + 1e-6, side="right") - 1
    everything = list(range(len(times)))
    expected = read_clip(vfr, shown.tolist(), short_side=32)
    assert np.allclose(bar_columns(read_clip(copy, everything)), bar_columns(expected), atol=0.05)
    assert result.prepared == 1


def test_list_source_becomes_a_list_train_reads(dataset: Path, tmp_path: Path) -> None:
    listing = tmp_path / "train.txt"
    listing.write_text(
        f"{dataset / 'walk' / 'a.mp4'}\twalk\t0.2\t1.0\n"
        f"{dataset / 'run' / 'vfr.mp4'}\trun\t0\t0.5\n"
    )
    out = tmp_path / "prepared"
    result = prepare_dataset(listing, out, SMALL, workers=2)
    assert result.dataset == out / "train.csv"
    before, labels = read_records(listing)
    after, labels_after = read_records(result.dataset)
    assert labels_after.names == labels.names
    assert [(r.label, r.start, r.end) for r in after] == [(r.label, r.start, r.end) for r in before]
    assert [r.path.relative_to(out).as_posix() for r in after] == ["walk/a.mp4", "run/vfr.mp4"]


def test_refuses_to_write_over_or_inside_its_input(dataset: Path, tmp_path: Path) -> None:
    for out in (dataset, dataset / "walk", dataset / "prepared"):
        with pytest.raises(DataError, match="inside the source"):
            prepare_dataset(dataset, out, SMALL)
    with pytest.raises(DataError, match="not a folder"):
        prepare_dataset(dataset, _a_file(tmp_path), SMALL)
    listing = tmp_path / "one.txt"
    listing.write_text(f"{dataset / 'walk' / 'a.mp4'} walk\n")
    with pytest.raises(DataError):
        prepare_dataset(listing, dataset / "walk" / "a.mp4", SMALL)
    assert not (dataset / "prepared").exists()


def _a_file(folder: Path) -> Path:
    path = folder / "existing.mp4"
    path.write_bytes(b"x")
    return path


def test_cli_reports_and_refuses_in_one_line(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "prepare", str(dataset), str(dataset / "copy")]) == 2
    err = capsys.readouterr().err.strip()
    assert "inside the source" in err and len(err.splitlines()) == 1
    out = tmp_path / "copy"
    args = ["data", "prepare", str(dataset), str(out), "--short-side", "32", "--gop", "4"]
    assert main([*args, "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "prepared 4 videos" in printed and "skipped 1" in printed
    assert main(args) == 0
    assert "kept 4" in capsys.readouterr().out
    assert main([*args[:-1], "8"]) == 2  # other settings into the same folder
    assert "other settings" in capsys.readouterr().err


def test_resume_after_a_kill(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for k in range(6):
        write_video(source / "c" / f"v{k}.mp4", numbered_frames(200, 96, 128), fps=25, gop=50)
    out = tmp_path / "out"
    code = (
        "from motionfit.data.prepare import prepare_dataset, PrepareSettings;"
        f"prepare_dataset({str(source)!r}, {str(out)!r}, PrepareSettings(short_side=64,"
        " preset='medium'), workers=1)"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    log = out / ".prepare" / "done.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file() and log.read_text().count("\n") >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    assert finished and all(not p.name.startswith(".") for p in finished)
    for path in finished:  # every visible file is complete
        assert probe(path).num_frames == 200
    result = prepare_dataset(source, out, PrepareSettings(short_side=64, preset="medium"))
    assert result.reused >= len(finished) - 1 and result.reused + result.prepared == 6
    kept = [p for p, mtime in finished.items() if p.stat().st_mtime_ns == mtime]
    assert len(kept) >= result.reused
    assert sorted(p.name for p in out.rglob("*.mp4")) == [f"v{k}.mp4" for k in range(6)]
    assert not list(out.rglob("*.part"))


def test_bad_settings_are_config_errors(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--gop"):
        prepare_dataset(dataset, tmp_path / "o", PrepareSettings(gop=0))
    with pytest.raises(ConfigError, match="--fps"):
        prepare_dataset(dataset, tmp_path / "o", PrepareSettings(fps=-1))


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_preparing_the_same_source_twice_gives_the_same_pixels(tmp_path: Path) -> None:
    # issue 22, 10: x264's macroblock tree read leftover heap memory, so two runs of `data
    # prepare` decoded up to 51 grey levels apart; the heap is dirtied between the runs
    source = tmp_path / "src"
    rng = np.random.default_rng(0)
    for k in range(3):
        base = rng.integers(0, 255, size=(64, 64 + 40, 3), dtype=np.uint8)
        write_video(source / "c" / f"v{k}.mp4", np.stack([base[:, t : t + 64] for t in range(40)]))
    copies = []
    for run in range(4):
        junk = [
            rng.integers(0, 255, size=int(n), dtype=np.uint8) for n in rng.integers(1e3, 4e5, 20)
        ]
        del junk
        out = tmp_path / f"out{run}"
        prepare_dataset(source, out, PrepareSettings(short_side=48, gop=8), workers=1)
        copies.append({p.name: _decoded(p) for p in sorted(out.glob("c/*.mp4"))})
    for copy in copies[1:]:
        assert copy.keys() == copies[0].keys()
        for name, frames in copy.items():
            diff = np.abs(frames.astype(int) - copies[0][name].astype(int)).max()
            assert diff == 0, f"{name}: pixels up to {diff} apart"
