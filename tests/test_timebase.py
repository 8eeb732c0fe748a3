"""Strides that follow time (``sampling.stride_fps``): fixed from the training videos' frame
rate, then scaled for videos at other rates, on real encoded videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from run_fixtures import tiny_config

from motionfit.data.records import read_records
from motionfit.data.sampling import EvalSampler, TrainSampler
from motionfit.data.synthetic import make_dataset
from motionfit.data.timebase import median_fps, resolve_stride_fps
from motionfit.errors import ConfigError
from motionfit.run import RunPaths
from motionfit.train.datamodule import VideoDataModule


@pytest.fixture(scope="module")
def videos_25fps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(
        tmp_path_factory.mktemp("fps25"), classes=2, per_class=3, size=(32, 32), fps=(25, 25)
    )


def test_auto_is_fixed_to_the_training_videos_median_frame_rate(
    videos_25fps: Path, tmp_path: Path
) -> None:
    records, _ = read_records(videos_25fps)
    assert median_fps(records) == pytest.approx(25.0)
    assert tiny_config(videos_25fps).sampling.stride_fps == "frames"  # the default
    config = tiny_config(videos_25fps, extra=["sampling.stride_fps=auto"])
    assert config.sampling.resolved_stride_seconds() is None  # unknown until training starts
    # resolved from the training videos before the data module exists: it never rewrites it
    datamodule = VideoDataModule.for_run(config, RunPaths(tmp_path / "run"))
    assert datamodule.config.sampling.stride_fps == pytest.approx(25.0)
    unresolved = VideoDataModule(config, RunPaths(tmp_path / "run"))
    unresolved.prepare_records()
    assert unresolved.config is config
    assert resolve_stride_fps(datamodule.config, records) is datamodule.config  # resolved once
    off = config.model_copy(
        update={"sampling": config.sampling.model_copy(update={"stride_fps": "frames"})}
    )
    assert resolve_stride_fps(off, records) is off


def test_strides_cover_the_same_time_at_other_frame_rates() -> None:
    config = tiny_config(Path("."), extra=["sampling.stride=2", "sampling.stride_fps=25"])
    sampler = EvalSampler.from_config(config.sampling)
    assert sampler(100, 25.0)[0].stride == 2  # the training rate: the recipe's stride
    assert sampler(100, 12.5)[0].stride == 1  # half the rate: half the frames
    assert sampler(100, 50.0)[0].stride == 4
    train = TrainSampler.from_config(config.sampling)
    strides = {train(200, 50.0, np.random.default_rng(i)).stride for i in range(40)}
    assert strides == {2, 4, 6}  # {1, 2, 3} at 25 fps
    frames = tiny_config(Path("."), extra=["sampling.stride=2", "sampling.stride_fps=frames"])
    assert EvalSampler.from_config(frames.sampling)(100, 12.5)[0].stride == 2


def test_bad_stride_fps_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sampling\.stride_fps"):
        tiny_config(Path("."), extra=["sampling.stride_fps=-3"])
    with pytest.raises(ConfigError, match=r"sampling\.stride_fps"):
        tiny_config(Path("."), extra=["sampling.stride_fps=fast"])
