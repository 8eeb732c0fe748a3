"""Adding an augmentation is one file: a "time reversal with label map" defined in this test
file, registered from here (or through an entry point of an installed package), works in
``train``, ``data preview`` and ``ablate --add`` without touching motionfit. Also: the registry's
rules, every augmentation's own config section, and the old flat keys as aliases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from pydantic import Field
from run_fixtures import assert_informative_png, run_cli

from motionfit.config import load_config, schema
from motionfit.data.augment import (
    AugmentSettings,
    ClipTemporalAugmentation,
    Verdict,
    build_stage,
    probability,
    register,
    registered,
    unregister,
)
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.errors import ConfigError
from motionfit.sweeps.ablation import select_variants, variant_config

REVERSED_PAIRS = {"move_left": "move_right", "move_up": "move_down"}
FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.epochs=1",
    "train.clean_train_videos=4",
    "eval.batch_size=8",
    "output.tensorboard=false",
    "output.plots=false",
]


class TimeReversalSettings(AugmentSettings):
    """Play a training clip backwards."""

    p: float = probability(0.0, "Probability a training clip is played backwards.")
    label_map: dict[str, str] = Field(
        default_factory=dict, description="Class pairs a reversal swaps (move_left: move_right)."
    )


class TimeReversal(ClipTemporalAugmentation[TimeReversalSettings]):
    """A user's augmentation: the clip backwards, its label through ``label_map``."""

    name = "time_reversal"
    settings_model = TimeReversalSettings
    verdict = Verdict("allowed", "a reversed motion is a real motion once its label is mapped")

    def __init__(self, settings: TimeReversalSettings, context) -> None:
        super().__init__(settings, context)
        self.swap = context.class_ids(settings.label_map, "augment.time_reversal.label_map")

    def __call__(self, frames: torch.Tensor, label: int, generator: torch.Generator):
        if float(torch.rand((), generator=generator)) >= self.settings.p:
            return frames, label
        return frames.flip(0), self.swap.get(label, label)


@pytest.fixture
def time_reversal() -> Iterator[type[TimeReversal]]:
    register(TimeReversal)
    yield TimeReversal
    unregister("time_reversal")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 motion classes (left, right, up, down) x 4 real h264 videos."""
    root = tmp_path_factory.mktemp("videos")
    return make_dataset(root / "synth", classes=4, per_class=4, size=(32, 32), frames=(16, 20))


def reversal(p: float) -> list[str]:
    return [f"augment.time_reversal.p={p}", f"augment.time_reversal.label_map={REVERSED_PAIRS}"]


def test_a_registered_augmentation_has_its_own_config_section(time_reversal) -> None:
    config = load_config("demo", reversal(0.5))
    settings = config.augment.settings("time_reversal")
    assert isinstance(settings, TimeReversalSettings) and settings.p == 0.5
    assert settings.label_map == REVERSED_PAIRS
    assert load_config("demo").augment.settings("time_reversal").p == 0.0  # defaults when absent
    with pytest.raises(ConfigError, match=r"'augment\.time_reversal\.p'.*less than or equal to 1"):
        load_config("demo", ["augment.time_reversal.p=2"])
    with pytest.raises(ConfigError, match=r"unknown config key 'augment\.time_reversal\.speed'"):
        load_config("demo", ["augment.time_reversal.speed=2"])


def test_an_unregistered_section_is_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert "time_reversal" not in registered()
    assert run_cli(["config", "show", "demo", "--set", "augment.time_reversal.p=0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "augment.time_reversal" in err


def test_the_registry_refuses_clashing_names(time_reversal) -> None:
    class Other(TimeReversal):
        pass

    with pytest.raises(ConfigError, match="registered already"):
        register(type("TimeReversal2", (TimeReversal,), {}))
    register(TimeReversal)  # the same class again (a reload) is fine
    for bad in ("crop_size", "not a name"):
        with pytest.raises(ConfigError, match="must be an identifier"):
            register(type("Bad", (TimeReversal,), {"name": bad}))
    assert Other.name == "time_reversal"


def test_it_reverses_clips_and_maps_labels_in_the_training_dataset(time_reversal, videos) -> None:
    records, labels = read_records(videos)
    assert set(REVERSED_PAIRS) | set(REVERSED_PAIRS.values()) == set(labels.names)
    common = {"mode": "train", "class_names": labels.names}
    outputs = {}
    for p in (0.0, 1.0):
        config = load_config(
            "demo", [*reversal(p), "augment.spatial=false", "augment.crop_size=32"]
        )
        dataset = VideoClipDataset(
            records, sampling=config.sampling, augment=config.augment, **common
        )
        outputs[p] = [dataset[i] for i in range(len(records))]
    swap = {labels.names.index(a): labels.names.index(b) for a, b in REVERSED_PAIRS.items()}
    swap |= {b: a for a, b in swap.items()}
    for plain, backwards, record in zip(outputs[0.0], outputs[1.0], records, strict=True):
        assert plain["label"] == record.label and backwards["label"] == swap[record.label]
        assert torch.equal(backwards["video"], plain["video"].flip(1))  # [C, T, H, W]: time
    evaluation = VideoClipDataset(
        records, mode="eval", sampling=config.sampling, augment=config.augment
    )
    assert evaluation.clip_augments == [] and evaluation[0]["label"] == records[0].label


def test_train_uses_it_and_the_run_config_holds_it(time_reversal, videos, tmp_path) -> None:
    out = tmp_path / "run"
    sets = [s for item in [*FAST, *reversal(0.5)] for s in ("--set", item)]
    argv = ["train", "--config", "demo", "--data", str(videos), "-q", *sets]
    assert run_cli([*argv, "--out", str(out)]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())["augment"]["time_reversal"]
    assert saved == {"p": 0.5, "label_map": REVERSED_PAIRS}
    # a wrong class name in its label map fails before training, naming the key
    wrong = ["--set", "augment.time_reversal.label_map={move_left: jump}"]
    assert run_cli([*argv, *wrong, "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad" / "config.yaml").exists()


def test_data_preview_draws_it(time_reversal, videos, tmp_path) -> None:
    heights = []
    for name, p in (("off", 0.0), ("on", 0.5)):
        path = tmp_path / f"{name}.png"
        sets = [s for item in reversal(p) for s in ("--set", item)]
        argv = ["data", "preview", str(videos), "--out", str(path), "--rows", "1", *sets]
        assert run_cli(argv) == 0
        assert_informative_png(path)
        heights.append(Image.open(path).height)
    assert heights[1] > heights[0]  # one more row: the reversed clip


def test_ablate_add_turns_it_on_only_in_the_added_variant(time_reversal, videos, tmp_path) -> None:
    base = load_config("demo", reversal(0.5))
    added = "reversal:temporal+spatial;augment.time_reversal.p=1"
    chosen = select_variants(["temporal+spatial"], [added])
    configs = {v.name: variant_config(base, v, seed=0) for v in chosen}
    assert configs["temporal+spatial"].augment.settings("time_reversal").p == 0  # built-ins: off
    assert configs["reversal"].augment.settings("time_reversal").p == 1
    out = tmp_path / "ablation"
    sets = [s for item in [*FAST, *reversal(0)] for s in ("--set", item)]
    argv = ["ablate", "--config", "demo", "--data", str(videos), "--out", str(out), "--seeds", "1"]
    argv += ["--variants", "none", "--add", added]
    assert run_cli([*argv, "-q", *sets]) == 0
    saved = yaml.safe_load((out / "runs" / "reversal" / "seed0" / "config.yaml").read_text())
    assert saved["augment"]["time_reversal"]["p"] == 1
    assert (out / "ablation.csv").read_text().count("reversal") == 1


def test_an_installed_package_registers_through_its_entry_point(videos, tmp_path) -> None:
    site = tmp_path / "site"
    info = site / "user_augmentations-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: user-augmentations\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[motionfit.augmentations]\ntime_reversal = test_augment_registry:TimeReversal\n"
    )
    path = os.pathsep.join(
        [str(site), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    )
    out = tmp_path / "preview.png"
    command = [sys.executable, "-m", "motionfit.cli.main", "data", "preview", str(videos)]
    command += ["--out", str(out), "--rows", "1", "--set", "augment.time_reversal.p=0.5"]
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_informative_png(out)


def test_old_flat_keys_load_into_their_sections_with_a_note(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(schema, "_DEPRECATION_NOTED", set())
    own = tmp_path / "own.yaml"
    own.write_text("extends: mvit_v2_s\naugment:\n  mix_prob: 0.3\n  frame_cutmix: false\n")
    with pytest.warns(FutureWarning) as notes:
        config = load_config(own)
    assert sorted(str(n.message) for n in notes) == [
        "config key 'augment.frame_cutmix' is deprecated; write augment.mix.per_frame",
        "config key 'augment.mix_prob' is deprecated; write augment.mix.p",
    ]
    mix = config.augment.settings("mix")
    recipe = load_config("mvit_v2_s").augment.settings("mix")
    # merged field by field with the recipe's section: only p changed
    assert recipe.p == 1 and mix.p == 0.3 and mix.cutmix_alpha == recipe.cutmix_alpha == 1
    assert [s.name for s in build_stage(config.augment, "batch")][-1] == "mix"
