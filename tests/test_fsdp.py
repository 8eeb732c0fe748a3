"""``train.strategy=fsdp`` on the CPU with 2 processes (gloo), on real encoded videos and a
tiny V-JEPA 2: the sharded run trains the model a one-process run trains (layer-wise LR decay
groups, gradient clipping and block activation checkpointing included), a SIGTERM mid-epoch
saves a full one-file checkpoint that resumes exactly, and ``export`` / ``features`` read the
run. Plus the block discovery and the precision settings, without processes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from motionfit.cli.main import main
from motionfit.config import load_config
from motionfit.data.augment import registered
from motionfit.data.synthetic import make_dataset
from motionfit.models.build import build_model
from motionfit.run import read_metrics
from motionfit.train.fsdp import block_classes, fsdp_strategy, mixed_precision
from motionfit.train.optim import original_name, param_groups

SETTINGS = [
    "model.name=vjepa2_tiny",
    "augment.crop_size=64",
    "augment.flip_label_map={move_left: move_right}",
    "model.dropout=0",
    "model.drop_path=0",
    "augment.mix.p=0",
    # batch augmentations draw partners from each process's own batch: off, like mixing
    *(f"augment.{name}.p=0" for name, a in registered("batch").items() if a.needs_appearance),
    "optim.layer_decay=0.75",  # one group per (depth, decay)
    "data.num_workers=0",
    "train.epochs=1",
    "train.deterministic=true",
    "train.accelerator=cpu",
    "train.checkpoint_every_n_steps=1",
    "train.clean_train_videos=2",
    "train.log_every_n_steps=1",
    "eval.batch_size=8",
    "output.tensorboard=false",
    "output.plots=false",
]
# 2 processes x 1 clip = the one process's batch of 2; train.grad_clip (1.0) stays on
FSDP = ["train.batch_size=1", "train.devices=2", "train.strategy=fsdp"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """4 motion classes x 6 real h264 videos (16-20 frames, 32x32)."""
    root = tmp_path_factory.mktemp("videos")
    return make_dataset(root / "synth", classes=4, per_class=6, size=(32, 32), frames=(16, 20))


def _train(videos: Path, out: Path, *extra: str) -> list[str]:
    args = ["train", "--config", "demo", "--data", str(videos), "--out", str(out), "--quiet"]
    return [*args, *(a for item in (*SETTINGS, *extra) for a in ("--set", item))]


def _start(argv: list[str]) -> subprocess.Popen:
    """``motionfit ARGV`` in its own process group (Lightning's launcher adds rank 1 to it)."""
    # a distributed run earlier in this test process may have left its rendezvous variables
    rendezvous = {"MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE"}
    env = {k: v for k, v in os.environ.items() if k not in rendezvous}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "motionfit.cli.main", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _cli(capsys: pytest.CaptureFixture, *argv: object) -> int:
    capsys.readouterr()
    return main([str(a) for a in argv])


@pytest.mark.slow
def test_fsdp_run_stopped_by_sigterm_resumes_to_the_one_process_model(videos, tmp_path, capsys):
    straight = _start(_train(videos, tmp_path / "one", "train.batch_size=2"))
    out = tmp_path / "fsdp"
    job = _start(_train(videos, out, *FSDP, "train.grad_checkpointing=true"))
    try:
        deadline = time.time() + 300
        while not (out / "checkpoints/last.ckpt").exists():  # step 1 saved: stop mid-epoch
            assert job.poll() is None, job.communicate()[1]
            assert time.time() < deadline, "timed out"
            time.sleep(0.02)
        os.killpg(job.pid, signal.SIGTERM)  # as a cluster stops a job: every process
        err = job.communicate(timeout=300)[1]
        assert straight.wait(timeout=300) == 0, straight.communicate()[1]
    finally:
        for proc in (straight, job):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert job.returncode == 143, err
    assert "stopped by SIGTERM at step" in err and f"--resume {out}" in err
    # the SIGTERM checkpoint: one full file (no shard folder), read with weights_only
    state = torch.load(out / "checkpoints/last.ckpt", weights_only=True)
    assert 1 <= state["global_step"] < 8, "not a mid-epoch stop"  # 16 videos / (2 x 1)
    one = torch.load(tmp_path / "one/checkpoints/last.ckpt", weights_only=True)
    assert state["state_dict"].keys() == one["state_dict"].keys()
    # the layer-decay groups, their parameters numbered as the one-process run numbers them
    groups = [
        [
            (g["lr_scale"], g["weight_decay"], g["params"])
            for g in c["optimizer_states"][0]["param_groups"]
        ]
        for c in (state, one)
    ]
    assert groups[0] == groups[1]
    assert len({scale for scale, _, _ in groups[0]}) > 1 and {d for _, d, _ in groups[0]} == {
        0.0,
        0.05,
    }

    resumed = _start(["train", "--resume", str(out), "--quiet"])
    assert resumed.wait(timeout=300) == 0, resumed.communicate()[1]
    a, b = read_metrics(tmp_path / "one/metrics.csv"), read_metrics(out / "metrics.csv")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [8]
    for key in ("val_loss", "val_top1", "lr"):
        assert math.isclose(a[0][key], b[0][key], rel_tol=1e-5, abs_tol=1e-6), (key, a, b)
    wa, wb = load_file(tmp_path / "one/model.safetensors"), load_file(out / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-5), key
    final = torch.load(out / "checkpoints/last.ckpt", weights_only=True)["optimizer_states"][0]
    reference = one["optimizer_states"][0]["state"]
    for key, value in reference.items():
        assert torch.allclose(final["state"][key]["exp_avg_sq"], value["exp_avg_sq"], atol=1e-8)

    # export and features read the FSDP run like any other (full weights in model.safetensors)
    assert _cli(capsys, "export", out, "--format", "torchscript", "--out", tmp_path / "m.pt") == 0
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    assert scripted(torch.zeros(1, 3, 8, 64, 64)).shape == (1, 4)
    features = tmp_path / "features"
    assert _cli(capsys, "features", out, "--data", videos, "--out", features, "--views", "1") == 0
    assert (features / "tokens.npy").is_file()


def test_blocks_are_the_repeated_layers_of_each_family():
    def blocks(name: str, frames: int, size: int) -> set[str]:
        model = build_model(name, num_classes=4, num_frames=frames, image_size=size)
        return {cls.__name__ for cls in block_classes(model)}

    assert blocks("videomae_tiny", 8, 64) == {"VideoMAELayer"}
    assert blocks("motioncnn_tiny", 8, 32) == {"ResidualBlock3d"}  # the residual stages
    assert blocks("swin3d_tiny", 8, 64) == {"SwinTransformerBlock"}


def test_parameter_groups_are_the_same_inside_fsdp_wrappers():
    model = build_model("videomae_tiny", num_classes=4, num_frames=8, image_size=64)
    wrapped = "videomae.encoder.layer.0._fsdp_wrapped_module._checkpoint_wrapped_module.output"
    assert original_name(f"{wrapped}.dense.bias") == "videomae.encoder.layer.0.output.dense.bias"

    class Wrapped(torch.nn.Module):  # parameter names as FSDP + checkpointing leave them
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        num_layers = model.num_layers
        layer_id = model.layer_id
        no_weight_decay = model.no_weight_decay

        def named_parameters(self, *args, **kwargs):
            for name, param in model.named_parameters():
                yield name.replace("layer.0.", "layer.0._fsdp_wrapped_module."), param

    plain = param_groups(model, 1e-3, 0.05, 0.75)
    inside = param_groups(Wrapped(), 1e-3, 0.05, 0.75)
    assert [g["names"] for g in plain] == [g["names"] for g in inside]
    assert [(g["lr"], g["weight_decay"]) for g in plain] == [
        (g["lr"], g["weight_decay"]) for g in inside
    ]


def test_precision_and_checkpointing_follow_the_config():
    bf16 = mixed_precision("bf16-mixed")
    assert bf16 is not None and bf16.param_dtype == torch.bfloat16
    assert bf16.reduce_dtype == bf16.buffer_dtype == torch.float32  # gradients reduced in fp32
    assert mixed_precision("32-true") is None
    cfg = load_config("demo", ["train.strategy=fsdp", "train.grad_checkpointing=true"]).train
    strategy = fsdp_strategy(cfg, "32-true")
    assert strategy.checkpoint_blocks and strategy.kwargs["use_orig_params"]
