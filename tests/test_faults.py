"""Fault injection: a zoo of bad files, bad configurations, outputs that point at the wrong
place, failed starts and kills at awkward moments.

Every user mistake ends with exit code 2 and ONE line on stderr naming the file or key (or
works, where working is right), and every file that existed before is byte-identical after.
Tiny models (motioncnn_tiny, 32 px, 8 frames) and real encoded videos keep it fast.
"""

from __future__ import annotations

import contextlib
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
import torch
from run_fixtures import make_run

from motionfit.atomic import remove_stale_temp_files
from motionfit.cli.main import main
from motionfit.config import load_config
from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.encode import write_video
from motionfit.data.records import VideoRecord, read_records
from motionfit.data.synthetic import make_dataset
from motionfit.errors import DataError, RunError, VideoDecodeError
from motionfit.output_dir import LOCK_FILE, MARKER_FILE
from motionfit.run import RunPaths, RunStart, check_run_dir, claim_run_dir, read_metrics
from motionfit.train.callbacks import AtomicCheckpointIO

TINY = [
    "model.name=motioncnn_tiny",
    "augment.crop_size=32",
    "sampling.num_frames=8",
    "sampling.stride=2",
    "data.num_workers=0",
    "train.batch_size=2",
    "train.epochs=1",
    "train.clean_train_videos=2",
    "eval.batch_size=4",
    "output.tensorboard=false",
    "output.plots=false",
    "augment.hflip=0",
    "augment.flip_label_map={}",
]


# ---------------------------------------------------------------------------------------------
# helpers


def sets(*overrides: str) -> list[str]:
    """``--set`` arguments for the tiny recipe plus ``overrides``."""
    return [arg for item in (*TINY, *overrides) for arg in ("--set", item)]


SCHEMA_DEFAULTS = Path(__file__).parent / "schema_defaults.yaml"  # an empty config file


def train_args(*args: object) -> list[object]:
    """``train --quiet ARGS`` (no progress bar or model summary), from the schema's defaults
    unless ARGS resume a run or name their own ``--config``."""
    own = "--resume" in args or "--config" in args
    return ["train", "--quiet", *([] if own else ["--config", SCHEMA_DEFAULTS]), *args]


def cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str]:
    """Run ``motionfit ARGV`` in-process: (exit code, stderr stripped)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def assert_user_error(code: int, err: str, *names: object) -> None:
    """Exit 2 and one ``error:`` line on stderr that names every one of ``names``."""
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    for name in names:
        assert str(name) in err, (name, err)


def snapshot(*roots: Path) -> dict[Path, bytes]:
    """Every regular file under ``roots`` (symlinks not followed) with its bytes, but the lock
    files of output folders (they hold the PID of their latest writer)."""
    files = {}
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                if name != LOCK_FILE and path.is_file() and not path.is_symlink():
                    files[path] = path.read_bytes()
    return files


def assert_unchanged(before: dict[Path, bytes]) -> None:
    """Every file of a snapshot still exists with the same bytes."""
    for path, data in before.items():
        assert path.is_file() and path.read_bytes() == data, path


def foreign_folder(root: Path) -> Path:
    """A folder of the user's own files, named like the files of a run."""
    root.mkdir(parents=True)
    (root / "labels.txt").write_text("mine\n")
    (root / "metrics.csv").write_text("epoch,my_numbers\n0,1\n")
    (root / "model.safetensors").write_bytes(os.urandom(256))
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "epoch=3.ckpt").write_bytes(os.urandom(256))
    (root / "split").mkdir()
    (root / "split" / "train.txt").write_text("not yours\n")
    return root


def frames(count: int, height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    """Moving noise frames (uint8 [T, H, W, 3])."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(height, width + count, 3), dtype=np.uint8)
    return np.stack([base[:, t : t + width] for t in range(count)])


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 motion classes x 5 real h264 videos (16 frames, 32x32)."""
    root = tmp_path_factory.mktemp("faults") / "videos"
    return make_dataset(root, classes=2, per_class=5, size=(32, 32), frames=(16, 16))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, videos: Path) -> Path:
    """A run directory with random tiny weights (no training)."""
    return make_run(tmp_path_factory.mktemp("faults") / "run", videos)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The zoo: readable oddities and unreadable files, by kind."""
    folder = tmp_path_factory.mktemp("zoo")
    good = write_video(folder / "good.mp4", frames(16))
    paths = {
        "good": good,
        "non_ascii": write_video(folder / "clip näme with spaces é.mp4", frames(16, seed=1)),
        "one_frame": write_video(folder / "one_frame.mp4", frames(1)),
        "two_frames": write_video(folder / "two_frames.mp4", frames(2)),
        "portrait": write_video(folder / "portrait.mp4", frames(12, height=48, width=24)),
        "odd_size": write_video(folder / "odd_size.avi", frames(12, 33, 47), codec="mpeg4"),
        "missing": folder / "missing.mp4",
        "empty": folder / "empty.mp4",
        "truncated": folder / "truncated.mp4",
        "not_a_video": folder / "not_a_video.mp4",
        "audio_only": folder / "audio_only.mp4",
        "symlink_loop": folder / "loop_a.mp4",
    }
    paths["empty"].write_bytes(b"")
    data = good.read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 3])
    paths["not_a_video"].write_text("this is not a video\n" * 40)
    with av.open(str(paths["audio_only"]), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate = 16000
        for _ in range(10):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (folder / "loop_a.mp4").symlink_to(folder / "loop_b.mp4")
    (folder / "loop_b.mp4").symlink_to(folder / "loop_a.mp4")
    return paths


READABLE = ("good", "non_ascii", "one_frame", "two_frames", "portrait", "odd_size")
UNREADABLE = ("missing", "empty", "truncated", "not_a_video", "audio_only", "symlink_loop")


# ---------------------------------------------------------------------------------------------
# the zoo of bad files


@pytest.mark.parametrize("kind", READABLE + UNREADABLE)
def test_every_file_of_the_zoo_gives_a_clip_or_one_line_naming_it(zoo, kind):
    config = load_config(None, [*TINY, "sampling.num_frames=16"])  # 16-frame clips
    dataset = VideoClipDataset(
        [VideoRecord(zoo[kind], 0)],
        mode="train",
        sampling=config.sampling,
        augment=config.augment,
        bad_files="error",
    )
    if kind in READABLE:
        assert dataset[0]["video"].shape == (3, 16, 32, 32)
        return
    with pytest.raises(VideoDecodeError) as info:
        dataset[0]
    message = str(info.value)
    assert zoo[kind].name in message and "\n" not in message, message


def test_unreadable_permissions_name_the_file(tmp_path, zoo):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(zoo["good"].read_bytes())
    locked.chmod(0)
    config = load_config(None, TINY)
    dataset = VideoClipDataset(
        [VideoRecord(locked, 0)],
        mode="eval",
        sampling=config.sampling,
        augment=config.augment,
        bad_files="error",
    )
    with pytest.raises(VideoDecodeError, match=r"locked\.mp4"):
        dataset[0]


def test_evaluate_scores_the_readable_zoo_and_leaves_out_the_rest(zoo, run_dir, tmp_path, capsys):
    label = (run_dir / "labels.txt").read_text().split()[0]
    listing = tmp_path / "zoo.csv"
    listing.write_text(
        "path,label\n" + "".join(f'"{zoo[kind]}",{label}\n' for kind in READABLE + UNREADABLE)
    )
    before = snapshot(zoo["good"].parent, run_dir)
    out = tmp_path / "eval"
    code, err = cli(capsys, "evaluate", run_dir, "--data", listing, "--out", out, "--json")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_videos"] == len(READABLE)
    assert len(metrics["unreadable"]) == len(UNREADABLE)
    assert_unchanged(before)


# ---------------------------------------------------------------------------------------------
# 1, 2: outputs never land on files motionfit did not write, nor on the input


def _command(name: str, videos: Path, run_dir: Path, out: Path) -> list[object]:
    return {
        "train": ["train", "-c", SCHEMA_DEFAULTS, "--data", videos, "--out", out, *sets()],
        "pretrain": ["pretrain", "--data", videos, "--out", out],
        "data split": ["data", "split", videos, "--out", out],
        "sweep": ["sweep", "--data", videos, "--out", out, "--trials", 1, *sets()],
        "ablate": ["ablate", "--data", videos, "--out", out, *sets()],
        "evaluate": ["evaluate", run_dir, "--data", videos, "--out", out],
        "data synth": ["data", "synth", out, *SYNTH],
    }[name]


COMMANDS = ("train", "pretrain", "data split", "sweep", "ablate", "evaluate", "data synth")
SYNTH = ["--classes", 2, "--per-class", 2, "--size", "32x32", "--frames", "16-16"]


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_writes_into_a_folder_of_other_files(videos, run_dir, tmp_path, capsys, command):
    out = foreign_folder(tmp_path / "mine")
    before = snapshot(out, videos, run_dir)
    code, err = cli(capsys, *_command(command, videos, run_dir, out))
    assert_user_error(code, err, out, "did not write", "--force")
    assert_unchanged(before)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "labels.txt", "metrics.csv", "model.safetensors", "split"
    ]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_out_naming_an_existing_file_is_an_error(videos, run_dir, tmp_path, capsys, command):
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    code, err = cli(capsys, *_command(command, videos, run_dir, out))
    assert_user_error(code, err, out, "is a file")
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize("inside", ["", "checkpoints"])
def test_a_run_never_goes_into_its_training_data_even_with_force(videos, tmp_path, capsys, inside):
    before = snapshot(videos)
    out = videos / inside if inside else videos
    code, err = cli(capsys, *train_args("--data", videos, "--out", out, "--force", *sets()))
    assert_user_error(code, err, "inside the input")
    assert_unchanged(before)
    assert not (videos / "checkpoints").exists() and not (videos / MARKER_FILE).exists()


def test_data_split_never_overwrites_its_input_or_hand_written_lists(videos, tmp_path, capsys):
    folder = tmp_path / "lists"
    code, _ = cli(capsys, "data", "split", videos, "--out", folder)
    assert code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    listing = mine / "train.txt"
    listing.write_text((folder / "train.txt").read_text())
    (mine / "val.txt").write_text("hand,written\n")
    before = snapshot(mine)
    code, err = cli(capsys, "data", "split", listing, "--out", mine, "--force")
    assert_user_error(code, err, "holds the input", listing)
    code, err = cli(capsys, "data", "split", videos, "--out", mine)
    assert_user_error(code, err, mine, "did not write")
    assert_unchanged(before)


def test_data_split_reruns_into_its_own_output_and_forced_writes_keep_other_files(
    videos, tmp_path, capsys
):
    out = tmp_path / "split"
    for seed in (0, 1):
        code, err = cli(capsys, "data", "split", videos, "--out", out, "--seed", seed)
        assert code == 0, err
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.md").write_text("mine\n")
    code, err = cli(capsys, "data", "split", videos, "--out", shared, "--force")
    assert code == 0, err
    assert (shared / "notes.md").read_text() == "mine\n" and (shared / "val.txt").is_file()


def test_data_synth_reruns_into_its_own_output_and_refuses_other_settings(tmp_path, capsys):
    out = tmp_path / "synth"
    code, err = cli(capsys, "data", "synth", out, *SYNTH)
    assert code == 0, err
    assert json.loads((out / MARKER_FILE).read_text()) == {"kind": "synth"}
    made = snapshot(out)
    stamps = {path: path.stat().st_mtime_ns for path in made}
    code, err = cli(capsys, "data", "synth", out, *SYNTH)  # the same command: a no-op
    assert code == 0, err
    assert snapshot(out) == made and all(p.stat().st_mtime_ns == t for p, t in stamps.items())

    video = out / "move_right" / "move_right_0001.mp4"  # interrupted: finished by a rerun
    video.unlink()
    (out / "synth.json").unlink()
    code, err = cli(capsys, "data", "synth", out, *SYNTH)
    assert code == 0, err
    assert snapshot(out) == made

    for other in (["--seed", 1], ["--per-class", 1]):  # other settings: refused, kept
        code, err = cli(capsys, "data", "synth", out, *SYNTH, *other)
        assert_user_error(code, err, out, "other settings", "--force")
        assert snapshot(out) == made
    code, err = cli(capsys, "data", "synth", out, *SYNTH, "--seed", 1, "--force")
    assert code == 0, err
    assert json.loads((out / "synth.json").read_text())["seed"] == 1


def test_an_interrupted_data_synth_refuses_other_settings_without_force(
    tmp_path, capsys, monkeypatch
):
    # issue 22, 7: synth.json came last, so a rerun with other settings mixed two sets
    from motionfit.data import synthetic

    out = tmp_path / "synth"
    real, written = synthetic._write_one, []

    def interrupted(job):
        if written:
            raise KeyboardInterrupt  # Ctrl-C after the first video
        written.append(real(job))
        return written[-1]

    monkeypatch.setattr(synthetic, "_write_one", interrupted)
    assert cli(capsys, "data", "synth", out, *SYNTH, "--seed", 1)[0] == 130
    monkeypatch.setattr(synthetic, "_write_one", real)
    made = snapshot(out)
    code, err = cli(capsys, "data", "synth", out, *SYNTH, "--per-class", 3)
    assert_user_error(code, err, out, "other settings", "--force")
    assert snapshot(out) == made
    code, err = cli(capsys, "data", "synth", out, *SYNTH, "--seed", 1)  # the same: finished
    assert code == 0, err
    assert len(list(out.glob("move_*/*.mp4"))) == 4
    assert json.loads((out / "synth.json").read_text())["seed"] == 1


def test_data_synth_forced_into_a_folder_of_other_files_keeps_them(tmp_path, capsys):
    out = tmp_path / "mine"  # --force writes there (like data split): other names are kept
    (out / "clips").mkdir(parents=True)
    (out / "notes.md").write_text("mine\n")
    (out / "clips" / "holiday.mp4").write_bytes(os.urandom(256))
    before = snapshot(out)
    code, err = cli(capsys, "data", "synth", out, *SYNTH, "--force")
    assert code == 0, err
    assert_unchanged(before)
    assert (out / MARKER_FILE).is_file() and (out / "synth.json").is_file()
    assert len(list(out.glob("move_*/*.mp4"))) == 4


def test_data_synth_checks_its_settings_before_making_the_folder(tmp_path, capsys):
    out = tmp_path / "synth"
    code, err = cli(capsys, "data", "synth", out, *SYNTH, "--classes", 99)
    assert_user_error(code, err, "--classes")
    assert not out.exists()


CLUTTER = {
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "Thumbs.db": b"\xd0\xcf\x11\xe0",
    "desktop.ini": b"x",
}


@pytest.mark.parametrize("command", ["data synth", "data split", "evaluate"])
def test_a_folder_holding_only_os_clutter_counts_as_empty(
    videos, run_dir, tmp_path, capsys, command
):
    out = tmp_path / "fresh"  # opened in Finder / Explorer: .DS_Store, Thumbs.db, desktop.ini
    out.mkdir()
    for name, data in CLUTTER.items():
        (out / name).write_bytes(data)
    code, err = cli(capsys, *_command(command, videos, run_dir, out))
    assert code == 0, err
    assert all((out / name).read_bytes() == data for name, data in CLUTTER.items())  # kept
    assert (out / MARKER_FILE).is_file()


def test_os_clutter_beside_other_files_is_not_named_in_the_refusal(tmp_path):
    from motionfit.errors import OutputError
    from motionfit.output_dir import check_output_dir

    out = tmp_path / "mine"
    out.mkdir()
    (out / ".DS_Store").write_bytes(b"x")
    (out / "notes.md").write_text("mine\n")
    with pytest.raises(OutputError, match=r"notes\.md") as refused:
        check_output_dir(out, "split")
    assert ".DS_Store" not in str(refused.value)
    (out / "notes.md").unlink()
    assert check_output_dir(out, "split") is False
    assert (out / ".DS_Store").read_bytes() == b"x"


@pytest.fixture
def small_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's data sets shrunk to 2 classes x 2 videos."""
    from motionfit import demo

    monkeypatch.setattr(demo, "DEMO_TRAIN", demo.DemoSet(classes=2, per_class=2, seed=0))
    monkeypatch.setattr(demo, "DEMO_TEST", demo.DemoSet(classes=2, per_class=1, seed=1000))


def test_the_demo_reuses_its_complete_data_and_remakes_an_incomplete_set(small_demo, tmp_path):
    from motionfit.demo import demo_data

    root = tmp_path / "demo-data"
    train, test = demo_data(root)
    assert (train / MARKER_FILE).is_file() and (test / MARKER_FILE).is_file()
    made = snapshot(root)
    stamps = {path: path.stat().st_mtime_ns for path in made}
    assert demo_data(root) == (train, test)  # complete: reused as it is
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())

    (train / "move_left" / "move_left_0001.mp4").unlink()  # interrupted: made again
    (train / "synth.json").unlink()
    demo_data(root)
    assert snapshot(root) == made

    (train / MARKER_FILE).unlink()  # made by a version before the marker, render outdated
    meta = json.loads((train / "synth.json").read_text())
    (train / "synth.json").write_text(json.dumps({**meta, "render_version": 0}))
    demo_data(root)
    assert snapshot(root) == made


def test_the_demo_never_writes_its_data_into_a_folder_of_other_files(small_demo, tmp_path):
    from motionfit.demo import demo_data
    from motionfit.errors import OutputError

    root = tmp_path / "data"
    foreign_folder(root / "test")
    before = snapshot(root)
    with pytest.raises(OutputError, match="--data-dir") as refused:
        demo_data(root)
    message = str(refused.value)
    assert str(root / "test") in message and "did not write" in message and "\n" not in message
    assert "--force" not in message  # the demo has no --force
    assert_unchanged(before)
    assert not (root / "train").exists()  # both sets are checked before the first write


def test_the_demo_checks_its_run_folder_before_making_data(small_demo, tmp_path, capsys):
    out = tmp_path / "mine"
    foreign_folder(out)
    before = snapshot(out)
    code, err = cli(capsys, "demo", "--out", out, "--data-dir", tmp_path / "data")
    assert code == 2 and "\n" not in err.strip() and str(out) in err, err
    assert "choose another --out" in err and "--force" not in err
    assert_unchanged(before)
    assert not (tmp_path / "data").exists()  # refused before a single video was made


@pytest.mark.parametrize("command", ["export", "report", "predict", "data preview"])
def test_file_outputs_never_replace_an_existing_file_without_force(
    run_dir, zoo, tmp_path, capsys, command
):
    out = tmp_path / ("out.json" if command == "predict" else "out.html")
    out.write_bytes(b"precious")
    argv = {
        "export": ["export", run_dir, "--format", "torchscript", "--out", out],
        "report": ["report", run_dir, "--out", out],
        "predict": ["predict", zoo["good"], "--run", run_dir, "--out", out],
        "data preview": ["data", "preview", zoo["good"], "--out", out],
    }[command]
    code, err = cli(capsys, *argv)
    assert_user_error(code, err, out, "exists", "--force")
    assert out.read_bytes() == b"precious"


# ---------------------------------------------------------------------------------------------
# 3: a run that would train zero steps


def test_a_split_smaller_than_a_batch_fails_before_anything_is_written(videos, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = cli(
        capsys, *train_args("--data", videos, "--out", out, *sets("train.batch_size=64"))
    )
    assert_user_error(code, err, "train.batch_size=64", videos)
    assert not out.exists()


def test_a_forced_run_capped_inside_its_first_epoch_owns_its_split_and_weights(
    videos, tmp_path, capsys
):
    out = foreign_folder(tmp_path / "mine")
    argv = train_args("--data", videos, "--out", out, "--force", *sets("train.max_steps=1"))
    code, err = cli(capsys, *argv)
    assert code == 0, err
    assert "not yours" not in (out / "split" / "train.txt").read_text()
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------
# 4, 5: groups from UCF101 file names; symbolic link loops


def test_ucf101_folder_layout_groups_never_straddle_the_split(tmp_path, capsys):
    root = tmp_path / "ucf"
    for name in ("ApplyEyeMakeup", "Basketball", "Drumming"):
        (root / name).mkdir(parents=True)
        for group in range(1, 7):
            for clip in range(1, 4):
                (root / name / f"v_{name}_g{group:02d}_c{clip:02d}.avi").write_bytes(b"")
    records, _ = read_records(root)
    assert {r.group for r in records} == {f"g{g:02d}" for g in range(1, 7)}
    code, err = cli(capsys, "data", "split", root, "--out", tmp_path / "lists")
    assert code == 0, err
    train, _ = read_records(tmp_path / "lists" / "train.txt")
    val, _ = read_records(tmp_path / "lists" / "val.txt")
    assert train and val and not {r.group for r in train} & {r.group for r in val}


def test_symlink_loops_count_every_real_file_once_and_are_reported(tmp_path, zoo):
    root = tmp_path / "data"
    for name in ("jump", "run"):
        (root / name).mkdir(parents=True)
        for index in range(3):
            (root / name / f"{name}{index}.mp4").write_bytes(zoo["good"].read_bytes())
    (root / "jump" / "again").symlink_to(root / "jump")  # a folder loop
    (root / "jump" / "up").symlink_to(root)  # up to the dataset root
    (root / "run" / "twin.mp4").symlink_to(root / "run" / "run0.mp4")
    (root / "run" / "a.mp4").symlink_to(root / "run" / "b.mp4")  # a file loop
    (root / "run" / "b.mp4").symlink_to(root / "run" / "a.mp4")
    with pytest.warns(UserWarning, match=r"a\.mp4: a symbolic link that loops"):
        records, labels = read_records(root)
    assert len(records) == 6
    assert len({os.path.realpath(r.path) for r in records}) == 6
    assert [sum(r.label == i for r in records) for i in range(len(labels))] == [3, 3]


# ---------------------------------------------------------------------------------------------
# 6: validation leaves unreadable videos out, bad_files.tsv lists each once


def test_validation_leaves_an_unreadable_video_out_and_logs_it_once(zoo, tmp_path):
    config = load_config(None, TINY)
    log = tmp_path / "bad_files.tsv"
    records = [VideoRecord(zoo["good"], 0), VideoRecord(zoo["empty"], 1)]
    for _ in range(2):  # two datasets (validation, clean-train) sharing the log
        dataset = VideoClipDataset(
            records,
            mode="eval",
            sampling=config.sampling,
            augment=config.augment,
            bad_file_log=log,
            max_bad_fraction=1.0,
            leave_out_bad=True,
        )
        with pytest.warns(UserWarning, match="empty.mp4"):
            items = [dataset[i] for i in (0, 1, 1)]
        assert "error" in items[1] and items[0]["index"] == 0
        batch = collate_clips(items)
        assert batch["index"].tolist() == [0] and batch["label"].tolist() == [0]
    assert collate_clips([items[1]])["video"] is None
    assert log.read_text().count("empty.mp4") == 1


# ---------------------------------------------------------------------------------------------
# 7: errors raised in DataLoader workers keep their own message


def test_a_worker_error_reaches_the_user_as_its_own_line(videos, zoo, tmp_path, capsys):
    data = tmp_path / "data"
    for folder in sorted(videos.iterdir()):
        if folder.is_dir():
            (data / folder.name).mkdir(parents=True)
            for video in sorted(folder.iterdir()):
                (data / folder.name / video.name).write_bytes(video.read_bytes())
    broken = data / sorted(p.name for p in data.iterdir())[0] / "zz_broken.mp4"
    broken.write_bytes(zoo["truncated"].read_bytes())
    overrides = sets("data.num_workers=1", "data.bad_files=error", "train.batch_size=7")
    code, err = cli(capsys, *train_args("--data", data, "--out", tmp_path / "run", *overrides))
    assert_user_error(code, err, broken)
    assert "Traceback" not in err and "worker process" not in err and len(err) < 400


# ---------------------------------------------------------------------------------------------
# 8: every configuration value is checked when the config loads


BAD_VALUES = [
    ("augment.scale=[0.9,0.1]", "augment.scale"),
    ("augment.scale=[0.5,1.5]", "augment.scale"),
    ("augment.scale=0.5", "augment.scale"),
    ("augment.ratio=[2,1]", "augment.ratio"),
    ("augment.ratio=[0,1]", "augment.ratio"),
    ("augment.std=[0,0,0]", "augment.std"),
    ("augment.mean=[0.5,0.5]", "augment.mean"),
    ("augment.color_jitter.strength=[0.4,0.4,0.4,0.9]", "augment.color_jitter.strength"),
    ("augment.crop_size=8", "augment.crop_size"),
    ("augment.hflip=1.5", "augment.hflip"),
    ("train.devices=abc", "train.devices"),
    ("train.devices=0", "train.devices"),
    ("train.accelerator=tpu", "train.accelerator"),
    ("train.strategy=foo", "train.strategy"),
    ("train.monitor=val/nonexistent", "train.monitor"),
    ("train.max_steps=0", "train.max_steps"),
    ("train.epochs=0", "train.epochs"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.precision=64", "train.precision"),
    ("optim.betas=[2,3]", "optim.betas"),
    ("optim.betas=[0.9,1.0]", "optim.betas"),
    ("optim.lr=inf", "optim.lr"),
    ("optim.lr=nan", "optim.lr"),
    ("optim.lr=-1", "optim.lr"),
    ("optim.name=adam", "optim.name"),
    ("schedule.milestones=[10,5]", "schedule.milestones"),
    ("sampling.num_frames=0", "sampling.num_frames"),
    ("data.split_ratio=1.0", "data.split_ratio"),
    ("data.format=mp4", "data.format"),
    ("eval.crops=2", "eval.crops"),
    ("trian.epochs=3", "trian.epochs"),
    ("optim.learning_rate=0.1", "optim.learning_rate"),
    ("optim.lr", "optim.lr"),
]


@pytest.mark.parametrize(("override", "key"), BAD_VALUES)
def test_a_bad_value_is_one_line_naming_its_key_before_anything_runs(
    videos, tmp_path, capsys, override, key
):
    out = tmp_path / "run"
    argv = [*train_args("--data", videos, "--out", out), *sets(), "--set", override]
    code, err = cli(capsys, *argv)
    assert_user_error(code, err, key)
    assert not out.exists()


@pytest.mark.parametrize(
    "overrides",
    # FSDP runs on CPUs (gloo); DeepSpeed is not installed here
    [["train.accelerator=gpu"], ["train.accelerator=cpu", "train.strategy=deepspeed"]],
)
def test_settings_this_machine_cannot_run_fail_before_anything_is_written(
    videos, tmp_path, capsys, overrides
):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "run"
    code, err = cli(capsys, *train_args("--data", videos, "--out", out, *sets(*overrides)))
    assert_user_error(code, err, "train.accelerator", "train.strategy")
    assert not out.exists()


def test_the_real_entry_point_prints_one_line_and_exits_2(videos, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "-c", SCHEMA_DEFAULTS, "--data", videos, "--out", out]
    argv += ["--set", "train.accelerator=tpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "motionfit.cli.main", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_user_error(proc.returncode, proc.stderr.strip(), "train.accelerator", "tpu")
    assert not out.exists()


def test_pretraining_rejects_a_classification_monitor(videos, tmp_path, capsys):
    out = tmp_path / "mae"
    argv = ["pretrain", "--data", videos, "--out", out, "--set", "train.monitor=val/top1"]
    code, err = cli(capsys, *argv)
    assert_user_error(code, err, "train.monitor")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# 9: failed starts leave nothing that blocks a retry


HUB_MODEL = ["model.name=videomae_tiny", "augment.crop_size=64"]


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["model.name=nosuchnet"], ["nosuchnet"]),
        (["model.pretrained={garbage}"], ["garbage.pt"]),
        ([*HUB_MODEL, "model.pretrained=someorg/no-such-model"], ["someorg/no-such-model"]),
    ],
)
def test_a_failed_start_writes_nothing(videos, tmp_path, capsys, overrides, names):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a state dict, just text")
    out = tmp_path / "run"
    argv = train_args("--data", videos, "--out", out)
    started = time.perf_counter()
    code, err = cli(capsys, *argv, *sets(*(o.format(garbage=garbage) for o in overrides)))
    assert_user_error(code, err, *names)
    assert time.perf_counter() - started < 20
    assert not out.exists()


def test_an_unreachable_hub_fails_at_once_with_the_whole_message(
    videos, tmp_path, capsys, monkeypatch
):
    from huggingface_hub import constants

    from motionfit.models.hub import hub_unreachable_reason

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    hub_unreachable_reason.cache_clear()
    out = tmp_path / "run"
    overrides = sets(*HUB_MODEL, "model.pretrained=someorg/no-such-model")
    started = time.perf_counter()
    try:
        code, err = cli(capsys, *train_args("--data", videos, "--out", out, *overrides))
    finally:
        hub_unreachable_reason.cache_clear()
    assert time.perf_counter() - started < 20
    assert_user_error(code, err, "someorg/no-such-model", "127.0.0.1", "cannot be reached")
    assert err.endswith("e.g. via HF_HOME)") and not out.exists()


def test_a_run_that_never_started_is_retried_and_resumable(videos, tmp_path, capsys):
    out = tmp_path / "run"
    diverge = sets("optim.lr=1e30", "train.grad_clip=0", "schedule.warmup_epochs=0")
    code, err = cli(capsys, *train_args("--data", videos, "--out", out, *diverge))
    assert_user_error(code, err, "loss became", "no checkpoint had been saved")
    assert (out / MARKER_FILE).is_file() and not (out / "checkpoints" / "last.ckpt").exists()
    # what a kill before the first checkpoint leaves: a stale split and temporary files
    (out / "split" / "train.txt").write_text("path,label\nnot/a/video.mp4,x\n")
    stale = [
        out / ".config.yaml.motionfit-999999999.tmp",
        out / "checkpoints" / ".last.ckpt.motionfit-999999999.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    sane = ["--set", "optim.lr=1e-3", "--set", "train.grad_clip=1"]
    code, err = cli(capsys, *train_args("--resume", out, *sane))
    assert code == 0, err
    assert (out / "model.safetensors").is_file() and not any(p.exists() for p in stale)
    assert "not/a/video.mp4" not in (out / "split" / "train.txt").read_text()
    code, err = cli(capsys, *train_args("--data", videos, "--out", out, *sets()))
    assert_user_error(code, err, out, "already holds a run", "--resume")


def test_a_never_started_run_is_taken_back_by_the_same_command_but_not_by_another(tmp_path):
    run = RunPaths(tmp_path / "run")
    claim_run_dir(run, "train", RunStart(resume=False, retry=False))
    (run.root / "config.yaml").write_text("from the failed start\n")
    assert check_run_dir(run, "train", resume=False) == RunStart(resume=False, retry=True)
    assert check_run_dir(run, "train", resume=True) == RunStart(resume=False, retry=True)
    with pytest.raises(RunError, match="motionfit train output"):
        check_run_dir(run, "pretrain", resume=False)


# ---------------------------------------------------------------------------------------------
# 10: checkpoints are read with weights_only=True, whatever torch defaults to


class _Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_resume_refuses_a_checkpoint_that_would_run_code(videos, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    code, err = cli(capsys, *train_args("--data", videos, "--out", out, *sets("train.max_steps=1")))
    assert code == 0, err
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch < 2.6 behaviour
    proof = tmp_path / "code_ran"
    planted = out / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": {}, "evil": _Payload(proof)}, planted, pickle_protocol=2)
    with pytest.raises(RunError, match="refused"):
        AtomicCheckpointIO().load_checkpoint(planted)
    before = snapshot(out)
    code, err = cli(capsys, *train_args("--resume", out))
    assert_user_error(code, err, planted, "refused")
    assert not proof.exists()
    assert_unchanged(before)


# ---------------------------------------------------------------------------------------------
# 11: kills during checkpoint and metrics writes


KILLED_WRITER = """
import sys, torch
from pathlib import Path
from motionfit.train.callbacks import AtomicCheckpointIO, _write_rows
folder = Path(sys.argv[1])
io = AtomicCheckpointIO()
columns = ("epoch", "step", "val_top1")
for i in range(10**6):
    io.save_checkpoint({"step": i, "weights": torch.full((500_000,), float(i))},
                       folder / "last.ckpt")
    _write_rows(folder / "metrics.csv",
                [{"epoch": e, "step": e, "val_top1": 0.5} for e in range(i % 50 + 1)], columns)
    if i == 2:
        print("writing", flush=True)
"""


def test_a_kill_during_checkpoint_and_metrics_writes_loses_nothing(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert torch.equal(state["weights"], torch.full((500_000,), float(state["step"])))
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,step,val_top1" and all(line.endswith(",0.5") for line in lines[1:])
    left = set(remove_stale_temp_files(tmp_path))
    assert not list(tmp_path.glob(".*.tmp")) and all(p.name.endswith(".tmp") for p in left)


def test_stale_temp_files_of_live_processes_are_kept(tmp_path):
    ours = tmp_path / f".last.ckpt.motionfit-{os.getpid()}.tmp"
    ours.write_bytes(b"in progress")
    dead = tmp_path / "sub" / ".metrics.csv.motionfit-999999999.tmp"
    dead.parent.mkdir()
    dead.write_bytes(b"partial")
    not_ours = tmp_path / ".notes.tmp"
    not_ours.write_text("mine")
    assert remove_stale_temp_files(tmp_path) == [dead]
    assert ours.exists() and not_ours.exists()


def test_force_keeps_the_users_own_dot_tmp_files(videos, tmp_path, capsys):
    # item 10: --force used to delete any .NAME.<digits>.tmp in the folder, the user's too
    out = tmp_path / "mine"
    out.mkdir()
    users = [out / ".notes.12345.tmp", out / ".draft.999999999.tmp"]
    for path in users:
        path.write_text("mine\n")
    code, err = cli(capsys, "data", "split", videos, "--out", out)
    assert_user_error(code, err, out, "did not write", ".draft.999999999.tmp")  # not ignored
    code, err = cli(capsys, "data", "split", videos, "--out", out, "--force")
    assert code == 0, err
    assert all(path.read_text() == "mine\n" for path in users)


def test_a_moved_run_directory_keeps_its_best_model_tracking(tmp_path):
    # issue 22, 10: Lightning drops the best score when the checkpoint folder's path changed
    from motionfit.train.trainer import build_trainer

    config = load_config(None, TINY)
    before, after = RunPaths(tmp_path / "before"), RunPaths(tmp_path / "after")
    saved = build_trainer(config, before, progress=False).checkpoint_callback
    best = os.path.realpath(before.best_checkpoint)
    saved.best_model_score = saved.kth_value = torch.tensor(0.75)
    saved.best_model_path = saved.kth_best_model_path = best
    saved.best_k_models = {best: torch.tensor(0.75)}
    moved = build_trainer(config, after, progress=False).checkpoint_callback
    moved.load_state_dict(saved.state_dict())
    assert moved.best_model_score == pytest.approx(0.75)
    assert moved.best_model_path == os.path.realpath(after.best_checkpoint)
    assert list(moved.best_k_models) == [os.path.realpath(after.best_checkpoint)]
    assert not before.root.exists() and not after.root.exists()


def test_a_skipped_video_is_named_once_per_line(zoo, run_dir, tmp_path, capsys):
    # issue 22, 10: "skipped unreadable video P: P: reason"
    folder = tmp_path / "clips"
    folder.mkdir()
    for kind in ("good", "truncated"):
        (folder / zoo[kind].name).write_bytes(zoo[kind].read_bytes())
    code, err = cli(capsys, "predict", folder, "--run", run_dir)
    assert code == 0, err
    line = next(line for line in err.splitlines() if "truncated.mp4" in line)
    assert line.count("truncated.mp4") == 1, line


def test_data_errors_raised_in_workers_keep_the_original_message():
    text = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
        'last):\n  File "x.py", line 1, in f\nmotionfit.errors.DataError: /v/a b.mp4: too short\n'
    )
    assert str(DataError(text)) == "/v/a b.mp4: too short"
    assert str(DataError("plain message")) == "plain message"


# ---------------------------------------------------------------------------------------------
# 12: every writing command keeps off its own inputs, data prepare and features included


@pytest.mark.parametrize("command", ["data prepare", "features"])
def test_prepare_and_features_never_write_into_a_folder_of_other_files(
    videos, run_dir, tmp_path, capsys, command
):
    out = foreign_folder(tmp_path / "mine")
    before = snapshot(out, videos)
    argv = {
        "data prepare": ["data", "prepare", videos, out],
        "features": ["features", "vjepa2_tiny", "--data", videos, "--out", out],
    }[command]
    code, err = cli(capsys, *argv)
    assert_user_error(code, err, out, "did not write", "--force")
    assert_unchanged(before)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "labels.txt", "metrics.csv", "model.safetensors", "split"
    ]  # fmt: skip


def _over_inputs(name: str, videos: Path, run: Path) -> tuple[list[object], Path]:
    """(argv without --out, the --out target) of a command pointed at its own input."""
    video = sorted(videos.glob("*/*.mp4"))[0]
    export = ["export", run, "--format", "torchscript"]
    argv, target = {
        "export weights": (export, run / "model.safetensors"),
        "export checkpoint": (export, run / "checkpoints" / "best.ckpt"),
        "report config": (["report", run], run / "config.yaml"),
        "report metrics": (["report", run], run / "metrics.csv"),
        "report test video": (["report", run, "--test", videos], video),
        "predict": (["predict", video, "--run", run], run / "p.json"),
        "evaluate": (["evaluate", run, "--data", videos], run / "checkpoints"),
        "features": (["features", "vjepa2_tiny", "--data", videos], videos / "feat"),
        "features run": (["features", run, "--data", videos], run / "feat"),
    }[name]
    return [*argv, "--out", target], target


@pytest.mark.parametrize(
    "name",
    [
        "export weights", "export checkpoint", "report config", "report metrics",
        "report test video", "predict", "evaluate", "features", "features run",
    ],
)  # fmt: skip
def test_no_command_writes_over_its_own_input_even_with_force(
    videos, run_dir, tmp_path, capsys, name
):
    # issue 22, 2: export/report over the run's weights, config or metrics, a report over a
    # test video, features into the dataset (afterwards every command on it failed)
    argv, target = _over_inputs(name, videos, run_dir)
    existed = target.exists()  # best.ckpt: the run fixture has none, the path is still the run's
    before = snapshot(videos, run_dir)
    code, err = cli(capsys, *argv, "--force")
    assert_user_error(code, err, "inside the input")
    assert_unchanged(before)
    assert target.exists() == existed
    assert list(read_records(videos)[1].names) == ["move_left", "move_right"]


def test_prepare_refuses_other_settings_after_an_interruption_unless_forced(
    tmp_path, capsys, monkeypatch
):
    # issue 22, 7: the settings are recorded before the first copy; --force starts over
    from motionfit.data import prepare

    source = make_dataset(tmp_path / "src", classes=2, per_class=2, size=(32, 32), frames=(8, 8))
    out = tmp_path / "out"
    real, calls = prepare.transcode, []

    def interrupted(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # a Ctrl-C in the middle of the second video
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare, "transcode", interrupted)
    args = ["data", "prepare", source, out, "--workers", 1]
    assert cli(capsys, *args)[0] == 130
    monkeypatch.setattr(prepare, "transcode", real)
    made = snapshot(out)
    code, err = cli(capsys, *args, "--crf", 30)
    assert_user_error(code, err, out, "other settings", "--force")
    assert snapshot(out) == made
    code, err = cli(capsys, *args, "--crf", 30, "--force")
    assert code == 0, err
    assert json.loads((out / ".prepare" / "settings.json").read_text())["crf"] == 30
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 4


# ---------------------------------------------------------------------------------------------
# 13: point 9 of issue 22: one line and exit 2, never a traceback or a hang


def _run_with_eval_clips(run_dir: Path, tmp_path: Path, clips: int) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("labels.txt", "model.safetensors", "metrics.csv"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    text = (run_dir / "config.yaml").read_text().replace("  clips: 2\n", f"  clips: {clips}\n")
    assert f"clips: {clips}" in text
    (run / "config.yaml").write_text(text)
    return run


def _object_array_cache(tmp_path: Path) -> Path:
    cache = tmp_path / "features"
    cache.mkdir()
    meta = {"dtype": "float16", "tokens": 2, "dim": 4}
    (cache / "meta.json").write_text(json.dumps(meta))
    (cache / "index.csv").write_text("row,split,video,view,label,path\n0,train,0,0,0,a.mp4\n")
    np.save(cache / "tokens.npy", np.array([{"not": "tokens"}], dtype=object), allow_pickle=True)
    np.save(cache / "done.npy", np.ones(1, dtype=bool))
    np.save(cache / "labels.npy", np.zeros(1, dtype=np.int64))
    return cache


PROBES = [
    "config folder", "config not utf-8", "config key twice", "resume a file", "prepare workers",
    "huge crop", "huge clip", "two nodes on one machine", "predict huge views",
    "evaluate huge views", "object feature array",
]  # fmt: skip


@pytest.mark.parametrize("probe", PROBES)
def test_point_nine_probes_are_one_line_and_exit_2(videos, run_dir, tmp_path, capsys, probe):
    out = tmp_path / "out"
    config_dir = tmp_path / "recipe"
    config_dir.mkdir()
    not_utf8 = tmp_path / "latin1.yaml"
    not_utf8.write_bytes("train:\n  epochs: 2 # d\xe9j\xe0\n".encode("latin-1"))
    twice = tmp_path / "twice.yaml"
    twice.write_text("train:\n  epochs: 2\n  batch_size: 2\n  epochs: 30\n")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    train = ["train", "--data", videos, "--out", out]
    tiny = [*train, "--config", SCHEMA_DEFAULTS]
    huge_views = _run_with_eval_clips(run_dir, tmp_path, 10**9)
    argv, names = {
        "config folder": ([*train, "--config", config_dir], [config_dir, "is a folder"]),
        "config not utf-8": ([*train, "--config", not_utf8], [not_utf8, "UTF-8"]),
        "config key twice": ([*train, "--config", twice], [twice, "line 4", "'epochs'", "twice"]),
        "resume a file": (["train", "--resume", a_file], [a_file, "is a file"]),
        "prepare workers": (["data", "prepare", videos, out, "--workers", -3], ["--workers"]),
        "huge crop": ([*tiny, *sets("augment.crop_size=100000000")], ["augment.crop_size", "GiB"]),
        "huge clip": ([*tiny, *sets("sampling.num_frames=100000000")], ["sampling.num_frames"]),
        "two nodes on one machine": ([*tiny, *sets("train.num_nodes=2")], ["train.num_nodes"]),
        "predict huge views": (
            ["predict", sorted(videos.glob("*/*.mp4"))[0], "--run", huge_views],
            ["eval.clips", "views"],
        ),
        "evaluate huge views": (
            ["evaluate", huge_views, "--data", videos],
            ["eval.clips", "views"],
        ),
        "object feature array": (
            ["train", "--features", _object_array_cache(tmp_path), "--out", out],
            ["tokens.npy"],
        ),
    }[probe]  # fmt: skip
    started = time.perf_counter()
    code, err = cli(capsys, *argv)
    assert_user_error(code, err, *names)
    assert time.perf_counter() - started < 30 and not out.exists()
    assert a_file.read_text() == "keep me\n"


# ---------------------------------------------------------------------------------------------
# 14: one process per output folder; stops the way clusters stop jobs (signals to the group)


MOTIONFIT = [sys.executable, "-m", "motionfit.cli.main"]


def start_job(*argv: object) -> subprocess.Popen:
    """``motionfit ARGV`` in a session and process group of its own, as a scheduler starts one."""
    return subprocess.Popen(
        [*MOTIONFIT, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
    )


def signal_job(job: subprocess.Popen, signum: int) -> None:
    """Signal the job's whole process group, as ``timeout`` and ``kill -- -PGID`` do."""
    os.killpg(job.pid, signum)


def wait_until(ready, job: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert job.poll() is None, job.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def assert_group_gone(pgid: int, timeout: float = 10) -> None:
    """No process of the group is left (no orphaned worker)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"processes of group {pgid} outlived the command"
        time.sleep(0.1)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_killed_lock_holder_never_blocks_and_a_live_one_is_named(tmp_path):
    from motionfit.errors import OutputError
    from motionfit.output_dir import lock_output_dir, release_output_dir

    folder = tmp_path / "out"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from motionfit.output_dir import "
         "lock_output_dir; lock_output_dir(sys.argv[1]); print('locked', flush=True); "
         "time.sleep(600)", str(folder)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=rf"another motionfit process \(PID {holder.pid}\)"):
            lock_output_dir(folder)
    finally:
        holder.kill()
        holder.wait()
    lock_output_dir(folder)  # the OS dropped the dead holder's lock
    release_output_dir(folder)


def test_a_second_process_on_the_same_out_is_refused_and_sigint_stops_the_first(
    videos, tmp_path, capsys
):
    # issue 22, 4: both used to be accepted; the second is refused at once, naming the first
    out = tmp_path / "run"
    first = start_job(
        *train_args("--data", videos, "--out", out, *sets("train.epochs=40", "data.num_workers=1"))
    )
    try:
        wait_until((out / "metrics.csv").is_file, first)
        for argv in (["--data", videos, "--out", out, *sets()], ["--resume", out]):
            code, err = cli(capsys, *train_args(*argv))
            assert_user_error(code, err, out, f"PID {first.pid}", "another motionfit process")
        signal_job(first, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            signal_job(first, signal.SIGKILL)
    assert first.returncode == 130, err
    line = one_error_line(err)
    assert "stopped by SIGINT at step" in line and f"--resume {out}" in line
    assert_group_gone(first.pid)
    stopped = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert f"at step {stopped};" in line
    code, err = cli(capsys, *train_args("--resume", out, "--set", "train.epochs=2"))
    assert code == 0, err  # the lock ended with the first process


def test_sigterm_to_the_process_group_stops_at_the_next_step_and_resumes_exactly(
    videos, tmp_path, capsys
):
    # issue 22, 5: DataLoader workers got the SIGTERM too and died: a 124-line double
    # traceback, exit 1, and only the previous epoch-end checkpoint
    overrides = sets(
        "train.epochs=3", "data.num_workers=1", "train.deterministic=true",
        "augment.mix.p=0.5", "train.checkpoint_every_n_steps=0",
    )  # fmt: skip
    straight = start_job(*train_args("--data", videos, "--out", tmp_path / "straight", *overrides))
    out = tmp_path / "stopped"
    job = start_job(*train_args("--data", videos, "--out", out, *overrides))
    try:
        wait_until((out / "metrics.csv").is_file, job)  # in epoch 1
        signal_job(job, signal.SIGTERM)
        _, err = job.communicate(timeout=120)
        assert job.returncode == 143, err
        line = one_error_line(err)
        assert "stopped by SIGTERM at step" in line and f"--resume {out}" in line
        assert_group_gone(job.pid)
        assert straight.wait(timeout=300) == 0, straight.communicate()
    finally:
        for proc in (straight, job):
            if proc.poll() is None:
                signal_job(proc, signal.SIGKILL)
    step = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert f"at step {step};" in line and step >= 3  # at the step it stopped, after epoch 0
    code, err = cli(capsys, *train_args("--resume", out))
    assert code == 0, err
    a, b = read_metrics(tmp_path / "straight" / "metrics.csv"), read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in b] == [0, 1, 2]
    for ra, rb in zip(a, b, strict=True):
        for key in ("step", "train_loss", "train_acc", "val_loss", "val_top1"):
            assert np.isclose(ra[key], rb[key], rtol=1e-5, atol=1e-6), (key, ra, rb)
    wa = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    wb = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    for key, value in wa["state_dict"].items():
        assert torch.allclose(value, wb["state_dict"][key], atol=1e-6), key


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 videos of 48 noisy 96x96 frames: each takes a moment to transcode."""
    root = tmp_path_factory.mktemp("prepare") / "src"
    for label in ("a", "b"):
        for index in range(4):
            write_video(root / label / f"{label}{index}.mp4", frames(48, 96, 96, seed=index))
    return root


def _prepare_job(source: Path, out: Path) -> subprocess.Popen:
    job = start_job("data", "prepare", source, out, "--workers", 2, "--short-side", 64)
    log = out / ".prepare" / "done.jsonl"
    wait_until(lambda: log.is_file() and log.stat().st_size > 0, job)
    return job


def test_prepare_stops_on_a_group_sigterm_and_the_same_command_finishes(
    slow_source, tmp_path, capsys
):
    out = tmp_path / "out"
    job = _prepare_job(slow_source, out)
    try:
        signal_job(job, signal.SIGTERM)
        _, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            signal_job(job, signal.SIGKILL)
    assert job.returncode == 143, err
    line = one_error_line(err)
    assert "stopped by SIGTERM after" in line and "of 8 videos" in line
    assert_group_gone(job.pid)
    code, err = cli(capsys, "data", "prepare", slow_source, out, "--short-side", 64)
    assert code == 0, err
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 8


def test_prepare_workers_end_with_a_killed_parent(slow_source, tmp_path):
    # issue 22, 8: after SIGKILL of `data prepare --workers 2` its pool workers kept running
    job = _prepare_job(slow_source, tmp_path / "out")
    os.kill(job.pid, signal.SIGKILL)  # the parent alone
    job.wait()
    try:
        assert_group_gone(job.pid, timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            signal_job(job, signal.SIGKILL)


def test_features_stop_on_a_group_sigterm_and_the_same_command_finishes(videos, tmp_path, capsys):
    from motionfit.features.cache import FeatureCache
    from motionfit.features.extract import extract_features, features_config

    out = tmp_path / "cache"
    argv = ["features", "vjepa2_tiny", "--data", videos, "--out", out, "--views", 8]
    job = start_job(*argv, "--set", "data.num_workers=0")

    def some_done() -> bool:
        try:
            return bool(np.load(out / "done.npy", mmap_mode="r").any())
        except (OSError, ValueError):
            return False

    try:
        wait_until(some_done, job)
        signal_job(job, signal.SIGTERM)
        _, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            signal_job(job, signal.SIGKILL)
    assert job.returncode == 143, err
    assert "stopped by SIGTERM after" in one_error_line(err)
    assert not FeatureCache(out).done.all()
    code, err = cli(capsys, *argv, "--set", "data.num_workers=0")
    assert code == 0, err
    config, weights = features_config("vjepa2_tiny", str(videos), overrides=["data.num_workers=0"])
    straight = extract_features(config, weights, tmp_path / "straight", train_views=8)
    resumed = FeatureCache(out)
    assert np.array_equal(np.asarray(resumed.tokens), np.asarray(straight.tokens))
    assert np.array_equal(np.asarray(resumed.labels), np.asarray(straight.labels))


def test_a_sweep_stopped_by_sigterm_resumes_its_trial_on_the_next_run(videos, tmp_path, capsys):
    import optuna

    out = tmp_path / "sweep"
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {type: loguniform, low: 1.0e-3, high: 3.0e-3}\n")
    argv = ["sweep", "--data", videos, "--out", out, "--trials", 1, "--space", space, "--seed", 0]
    argv += sets("train.epochs=3", "output.save_top_k=1")
    job = start_job(*argv)
    trial = out / "trials" / "0000"
    try:
        wait_until((trial / "metrics.csv").is_file, job)
        signal_job(job, signal.SIGTERM)
        _, err = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            signal_job(job, signal.SIGKILL)
    assert job.returncode == 143, err
    assert "stopped by SIGTERM at step" in one_error_line(err)
    stopped = torch.load(trial / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    code, err = cli(capsys, *argv)
    assert code == 0, err
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE"], states
    assert study.trials[1].user_attrs["run_dir"] == str(trial)  # the same run, continued
    assert study.trials[1].params == study.trials[0].params
    rows = read_metrics(trial / "metrics.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2] and rows[-1]["step"] > stopped


def test_train_without_a_config_lists_the_recipes_and_writes_nothing(videos, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = cli(capsys, "train", "--quiet", "--data", videos, "--out", out)
    assert_user_error(code, err, "--config", "demo", "swin3d_t", "motionfit plan")
    assert not out.exists()
