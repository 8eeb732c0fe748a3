"""Training on real generated videos: the run directory, loss, label smoothing and mixing,
exact resume after SIGKILL, atomic checkpoints, SIGTERM, divergence, and 2-process DDP."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from motionfit.config import load_config
from motionfit.data.augment import registered
from motionfit.data.synthetic import make_dataset
from motionfit.errors import RunError
from motionfit.models.data_config import resolve_model_defaults
from motionfit.run import load_run, read_metrics
from motionfit.train.fit import train

CLI = [sys.executable, "-m", "motionfit.cli.main"]
FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.clean_train_videos=4",
    "train.log_every_n_steps=1",
    "eval.batch_size=8",
    "output.tensorboard=false",
    "augment.flip_label_map={move_left: move_right}",
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """4 motion classes x 6 real h264 videos (16-20 frames, 32x32)."""
    root = tmp_path_factory.mktemp("videos")
    return make_dataset(root / "synth", classes=4, per_class=6, size=(32, 32), frames=(16, 20))


def _config(videos: Path, *overrides: str):
    """The demo recipe on ``videos``, shrunk, resolved for its model as a run resolves it."""
    return resolve_model_defaults(load_config("demo", [f"data.source={videos}", *FAST, *overrides]))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    return env


def test_a_run_directory_is_complete_and_loadable(videos, tmp_path):
    out = tmp_path / "run"
    result = train(
        _config(videos, "train.epochs=2", "output.tensorboard=true"), out, progress=False
    )
    assert result.epochs == 2 and result.steps > 0
    for name in (
        "config.yaml",
        "labels.txt",
        "model.safetensors",
        "metrics.csv",
        "curves.png",
        "split/train.txt",
        "split/val.txt",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
    ):
        assert (out / name).is_file(), name
    assert any((out / "tb").rglob("events.out.tfevents.*"))
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [0, 1]
    for row in rows:
        for key in (
            "train_loss",
            "train_acc",
            "clean_train_acc",
            "val_loss",
            "val_top1",
            "val_top5",
            "lr",
        ):
            assert not math.isnan(row[key]), key
        assert 0 <= row["val_top1"] <= row["val_top5"] <= 1
    assert (out / "curves.png").stat().st_size > 10_000
    loaded = load_run(out)
    assert loaded.labels.names == tuple((videos / "labels.txt").read_text().split())
    logits = loaded.model(torch.zeros(2, 3, 8, 32, 32))
    assert logits.shape == (2, 4)
    # the exported weights are the best checkpoint's model
    best = torch.load(out / "checkpoints/best.ckpt", weights_only=True)["state_dict"]
    exported = load_file(out / "model.safetensors")
    assert all(torch.equal(exported[k], best[f"model.{k}"]) for k in exported)


def test_a_new_run_never_overwrites_an_existing_one(videos, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("precious: true\n")
    with pytest.raises(RunError, match="holds files motionfit did not write"):
        train(_config(videos, "train.epochs=1"), out, progress=False)
    assert (out / "config.yaml").read_text() == "precious: true\n"


def test_last_checkpoint_is_written_after_every_epoch(videos, tmp_path):
    """A run killed between epochs can resume: ``last.ckpt`` exists (and is that epoch's) as
    soon as each epoch ends, not only when training finishes (Lightning >= 2.6 regression)."""
    import lightning as L

    out = tmp_path / "run"
    seen: list[tuple[int, int | None]] = []

    class Probe(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            last = out / "checkpoints" / "last.ckpt"
            step = torch.load(last, weights_only=True)["global_step"] if last.is_file() else None
            seen.append((trainer.global_step, step))

    train(_config(videos, "train.epochs=3"), out, progress=False, callbacks=[Probe()])
    assert len(seen) == 3 and seen[0] == (0, None)
    assert all(step == global_step for global_step, step in seen[1:]), seen


def test_training_loss_decreases(videos, tmp_path):
    out = tmp_path / "run"
    overrides = ["train.epochs=12", "augment.enabled=false", "model.dropout=0", "optim.lr=0.003"]
    train(_config(videos, *overrides), out, progress=False)
    losses = [r["train_loss"] for r in read_metrics(out / "metrics.csv")]
    assert losses[-1] < 0.8 * losses[0], losses


def _task(videos, *overrides):
    from motionfit.models.build import build_model
    from motionfit.train.task import VideoClassificationTask

    config = _config(videos, *overrides)
    model = build_model("motioncnn_tiny", num_classes=4, num_frames=8, image_size=32)
    return VideoClassificationTask(config, model, num_classes=4).eval(), config


def test_label_smoothing_and_mixed_targets_reach_the_loss(videos):
    batch = {
        "video": torch.randint(0, 256, (6, 3, 8, 32, 32), dtype=torch.uint8),
        "label": torch.tensor([0, 1, 2, 3, 0, 1]),
    }
    task, _ = _task(
        videos, "train.label_smoothing=0.2", "augment.mix.p=1.0", "augment.mix.cutmix_alpha=0"
    )
    loss, logits, targets = task.compute_loss(batch, torch.Generator().manual_seed(3))
    assert (targets.max(dim=1).values < 1).any(), "MixUp should give soft targets"
    assert torch.allclose(targets.sum(dim=1), torch.ones(6))
    smoothed = targets * 0.8 + 0.2 / 4
    expected = -(smoothed * logits.log_softmax(dim=1)).sum(dim=1).mean()
    assert torch.allclose(loss, expected, atol=1e-6)

    plain, _ = _task(videos, "train.label_smoothing=0", "augment.mix.p=0")
    loss, logits, targets = plain.compute_loss(batch, torch.Generator().manual_seed(3))
    assert torch.equal(targets, F.one_hot(batch["label"], 4).float())
    assert torch.allclose(loss, F.cross_entropy(logits, batch["label"]), atol=1e-6)


def _run_cli(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


RESUME_ARGS = [
    "train.epochs=3",
    "train.checkpoint_every_n_steps=1",
    "train.deterministic=true",
    "augment.mix.p=0.5",
]


def _train_args(videos, out, extra=()):
    args = ["train", "--config", "demo", "--data", str(videos), "--out", str(out), "--quiet"]
    for item in [*FAST, *RESUME_ARGS, *extra]:
        args += ["--set", item]
    return args


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120, poll: float = 0.05) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "timed out"
        time.sleep(poll)


# the recipe's own loader settings (one worker process), no step checkpoints: the only
# checkpoint is the epoch-end one, and the kill lands right after it
DEFAULTS = ["data.num_workers=1", "train.checkpoint_every_n_steps=0"]


@pytest.mark.parametrize("when", ["mid-epoch", "after-epoch-end-checkpoint"])
def test_resume_after_sigkill_ends_like_an_uninterrupted_run(videos, tmp_path, when):
    extra = DEFAULTS if when == "after-epoch-end-checkpoint" else []
    straight = _run_cli(_train_args(videos, tmp_path / "straight", extra))
    killed_dir = tmp_path / "killed"
    killed = _run_cli(_train_args(videos, killed_dir, extra))
    # kill hard some time after the first step checkpoint exists, or as soon as the first
    # epoch-end checkpoint is there (before it, resuming 3 epochs drew epoch 1 in epoch 0's order)
    _wait_for(killed_dir / "checkpoints/last.ckpt", killed, poll=0.01)
    if when == "mid-epoch":
        time.sleep(1.0)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert straight.wait() == 0, straight.stdout.read()
    state = torch.load(killed_dir / "checkpoints/last.ckpt", weights_only=True)
    assert state["global_step"] < 12, "the kill came too late to test a mid-run resume"
    if when == "after-epoch-end-checkpoint":
        epochs, rest = divmod(state["global_step"], 4)  # 16 training videos, batches of 4
        assert rest == 0, "not an epoch-end checkpoint"
        loader = state["loops"]["fit_loop"]["state_dict"]["combined_loader"]
        assert loader == [{"epoch": epochs, "batches_done": 0}]  # was (epochs - 1, 4)
    resumed = _run_cli(["train", "--resume", str(killed_dir), "--quiet"])
    assert resumed.wait() == 0, resumed.stdout.read()

    a = read_metrics(tmp_path / "straight/metrics.csv")
    b = read_metrics(killed_dir / "metrics.csv")
    assert [r["epoch"] for r in b] == [0, 1, 2]
    for ra, rb in zip(a, b, strict=True):
        for key in ("step", "train_loss", "train_acc", "val_loss", "val_top1", "clean_train_acc"):
            assert math.isclose(ra[key], rb[key], rel_tol=1e-5, abs_tol=1e-6), (key, ra, rb)
    wa, wb = (
        load_file(tmp_path / "straight/model.safetensors"),
        load_file(killed_dir / "model.safetensors"),
    )
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


SAVER = """
import sys, torch
from pathlib import Path
from motionfit.train.callbacks import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), Path(sys.argv[1])
version = 0
while True:
    version += 1
    io.save_checkpoint({"version": version, "w": torch.full((4_000_000,), float(version))}, path)
    print(version, flush=True)
"""


def test_checkpoint_writes_are_atomic_under_sigkill(tmp_path):
    path = tmp_path / "ckpt" / "last.ckpt"
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], env=_env(), stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()  # one complete save exists
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = torch.load(path, weights_only=True)
        assert torch.all(state["w"] == state["version"])
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith(".")] == ["last.ckpt"]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(videos, tmp_path):
    out = tmp_path / "run"
    proc = _run_cli(
        _train_args(videos, out, ["train.epochs=50", "train.checkpoint_every_n_steps=0"])
    )
    _wait_for(out / "metrics.csv", proc)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, output
    assert "SIGTERM" in output and "--resume" in output
    state = torch.load(out / "checkpoints/last.ckpt", weights_only=True)
    assert state["global_step"] > 0


def test_a_diverging_run_stops_and_keeps_its_last_good_checkpoint(videos, tmp_path):
    out = tmp_path / "run"
    args = ["train.epochs=3", "optim.lr=1e30", "train.grad_clip=0", "schedule.warmup_epochs=0"]
    proc = _run_cli(_train_args(videos, out, args))
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 2, output
    assert output.count("error: ") == 1 and "loss became" in output
    if (out / "checkpoints/last.ckpt").exists():
        state = torch.load(out / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


DDP_ARGS = [
    "model.name=videomae_tiny",
    "augment.crop_size=64",
    "model.dropout=0",
    "model.drop_path=0",
    "augment.mix.p=0",
    # batch augmentations draw partners from each process's own batch: off, like mixing
    *(f"augment.{name}.p=0" for name, a in registered("batch").items() if a.needs_appearance),
    "train.epochs=2",
    "train.deterministic=true",
    "train.accelerator=cpu",
    "train.checkpoint_every_n_steps=0",
]


@pytest.mark.slow
def test_two_process_ddp_trains_the_same_model_as_one_process(videos, tmp_path):
    one = _run_cli(_train_args(videos, tmp_path / "one", [*DDP_ARGS, "train.batch_size=4"]))
    assert one.wait() == 0, one.stdout.read()
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "motionfit.cli.main",
            *_train_args(
                videos,
                tmp_path / "two",
                [*DDP_ARGS, "train.batch_size=2", "train.devices=2", "train.strategy=ddp"],
            ),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert two.returncode == 0, two.stdout + two.stderr
    wa, wb = (
        load_file(tmp_path / "one/model.safetensors"),
        load_file(tmp_path / "two/model.safetensors"),
    )
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-5), key
    a, b = read_metrics(tmp_path / "one/metrics.csv"), read_metrics(tmp_path / "two/metrics.csv")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert all(
        math.isclose(x["val_top1"], y["val_top1"], abs_tol=1e-6) for x, y in zip(a, b, strict=True)
    )
