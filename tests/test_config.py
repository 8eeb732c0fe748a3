"""The config schema: YAML round trip, --set overrides, errors that name the key, recipes, and
the CLI's one-line exit-2 contract."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from motionfit.cli.main import main
from motionfit.config import (
    Config,
    apply_override,
    dump_config,
    field_keys,
    list_recipes,
    load_config,
)
from motionfit.errors import ConfigError


def test_yaml_round_trip_is_lossless(tmp_path):
    config = load_config("demo", ["optim.lr=3e-4", "sampling.train_strides=[1, 3]"])
    path = tmp_path / "c.yaml"
    dump_config(config, path)
    again = load_config(path)
    assert again == config
    assert again.to_yaml() == config.to_yaml()
    assert yaml.safe_load(path.read_text())["optim"]["lr"] == 3e-4


def test_every_field_has_a_default_and_a_description():
    for section, info in Config.model_fields.items():
        if section == "description":
            continue
        for name, field in info.annotation.model_fields.items():
            assert field.description, f"{section}.{name} has no description"
            assert not field.is_required(), f"{section}.{name} has no default"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("optim.lr=1e-4", ("optim", "lr"), 1e-4),
        ("train.epochs=3", ("train", "epochs"), 3),
        ("augment.enabled=false", ("augment", "enabled"), False),
        ("augment.scale=[0.9, 1.0]", ("augment", "scale"), (0.9, 1.0)),
        ("sampling.train_strides=[2,4]", ("sampling", "train_strides"), [2, 4]),
        ("train.devices=2", ("train", "devices"), "2"),
        ("model.name=videomae_tiny", ("model", "name"), "videomae_tiny"),
        ("model.pretrained=null", ("model", "pretrained"), None),
        ("augment.flip_label_map={left: right}", ("augment", "flip_label_map"), {"left": "right"}),
    ],
)
def test_overrides_are_parsed_to_the_field_type(override, key, expected):
    config = load_config("demo", [override])
    assert getattr(getattr(config, key[0]), key[1]) == expected


def test_unknown_keys_suggest_the_closest_valid_key(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown config key 'optim.lrr' \(did you mean 'optim.lr'\?\)"
    ):
        load_config("demo", ["optim.lrr=1"])
    path = tmp_path / "bad.yaml"
    path.write_text("augment:\n  crop_sise: 112\n")
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml: unknown config key 'augment.crop_sise' "
        r"\(did you mean 'augment.crop_size'",
    ):
        load_config(path)
    with pytest.raises(
        ConfigError, match=r"unknown config key 'trian.epochs' \(did you mean 'train.epochs'"
    ):
        apply_override({}, "trian.epochs=1")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=abc", "optim.lr"),
        ("optim.lr=-1", "optim.lr"),
        ("train.precision=64", "train.precision"),
        ("augment.hflip=1.5", "augment.hflip"),
        ("sampling.train_strides=[0]", "sampling"),
        ("eval.crops=2", "eval.crops"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=f"config key '{key}"):
        load_config("demo", [override])


def test_extends_merges_sections_and_detects_cycles(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("extends: demo\noptim:\n  weight_decay: 0.1\n")
    config = load_config(child)
    demo = load_config("demo")
    assert config.optim.weight_decay == 0.1
    assert config.optim.lr == demo.optim.lr and config.model == demo.model
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(loop)


def test_all_shipped_recipes_validate():
    recipes = list_recipes()
    assert "demo" in recipes
    for name, description in recipes.items():
        assert description, f"recipe {name} has no description"
        load_config(name)


def test_missing_recipe_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'demo'"):
        load_config("dmeo")


def test_field_keys_cover_the_sections():
    keys = field_keys()
    for section in (
        "data",
        "sampling",
        "augment",
        "model",
        "optim",
        "schedule",
        "train",
        "eval",
        "output",
    ):
        assert any(k.startswith(section + ".") for k in keys)


def test_cli_config_show_prints_resolved_yaml(capsys):
    assert main(["config", "show", "demo", "--set", "optim.lr=0.01"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["optim"]["lr"] == 0.01
    assert set(shown) >= {
        "data",
        "sampling",
        "augment",
        "model",
        "optim",
        "schedule",
        "train",
        "eval",
        "output",
    }


def test_cli_config_list_and_validate(tmp_path, capsys):
    assert main(["config", "list"]) == 0
    assert "demo" in capsys.readouterr().out
    good = tmp_path / "good.yaml"
    dump_config(load_config("demo"), good)
    assert main(["config", "validate", str(good)]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "show", "demo", "--set", "optim.lr=abc"],
        ["config", "show", "demo", "--set", "optim.lrr=1"],
        ["config", "show", "demo", "--set", "novalue"],
        ["config", "validate", "/nonexistent/config.yaml"],
        ["config", "show", "no-such-recipe"],
        ["config", "show"],
        ["no-such-command"],
    ],
)
def test_cli_user_mistakes_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "Traceback" not in err


def test_cli_verbose_shows_the_traceback():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "motionfit.cli.main",
            "--verbose",
            "config",
            "show",
            "demo",
            "--set",
            "optim.lr=abc",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "error: " in result.stderr


def test_cli_version_and_help(capsys):
    from motionfit import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    for argv in (
        ["--help"],
        ["config", "--help"],
        ["data", "synth", "--help"],
        ["train", "--help"],
    ):
        assert main(argv) == 0


def resolved(name_or_path=None, overrides=None):
    """A config as a run resolves it: loaded, then the model's defaults filled in."""
    from motionfit.models.data_config import resolve_model_defaults

    return resolve_model_defaults(load_config(name_or_path, overrides))


def test_loading_and_validating_every_recipe_imports_no_torch():
    code = (
        "import sys\n"
        "from motionfit.config import list_recipes, load_config\n"
        "configs = [load_config(name) for name in list_recipes()]\n"
        "assert configs and configs[0].augment.mean is None  # the model decides, later\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'transformers', 'lightning', "
        "'motionfit.models') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "# the augmentation registry (each augmentation's section) is read, nothing else of data\n"
        "data = sorted(m for m in sys.modules if m.startswith('motionfit.data.'))\n"
        "assert all(m.startswith('motionfit.data.augment') for m in data), data\n"
        "assert 'motionfit.data.augment.registry' in data\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_normalization_follows_the_model_unless_set():
    from motionfit.models.registry import get_spec

    for name in ("swin3d_t", "videoprism_b", "timesformer_b"):
        config = resolved(None, [f"model.name={name}"])
        spec = get_spec(name)
        assert (config.augment.mean, config.augment.std) == (spec.mean, spec.std)
    swapped = resolved(None, ["model.name=videoprism_b"])
    assert swapped.augment.mean != resolved(None).augment.mean
    chosen = resolved(None, ["model.name=videoprism_b", "augment.mean=[0.5,0.5,0.5]"])
    assert chosen.augment.mean == (0.5, 0.5, 0.5)
    with pytest.raises(ConfigError, match=r"augment\.mean"):  # unresolved: loud, not a guess
        load_config(None).augment.normalization()


def test_cli_config_show_says_where_normalization_comes_from(capsys):
    assert main(["config", "show", "demo", "--set", "model.name=videoprism_b"]) == 0
    out = capsys.readouterr().out
    assert "mean:  # the model's (videoprism_b)" in out
    assert yaml.safe_load(out)["augment"]["mean"] == [0.0, 0.0, 0.0]


def test_recipes_take_the_model_s_normalization_unless_they_set_their_own(tmp_path):
    from motionfit.models.registry import get_spec

    swin = get_spec("swin3d_t")
    # the trap: MViT's recipe with Swin's weights now normalizes as Swin
    config = resolved("mvit_v2_s", ["model.name=swin3d_t"])
    assert (config.augment.mean, config.augment.std) == (swin.mean, swin.std)
    assert resolved("mvit_v2_s").augment.mean == get_spec("mvit_v2_s").mean
    # a config that sets values on purpose keeps them; null asks for the model's again
    own = tmp_path / "own.yaml"
    own.write_text(
        "extends: mvit_v2_s\naugment:\n  mean: [0.5, 0.5, 0.5]\n  std: [0.5, 0.5, 0.5]\n"
    )
    kept = resolved(own, ["model.name=swin3d_t"])
    assert kept.augment.mean == (0.5, 0.5, 0.5) and kept.augment.std == (0.5, 0.5, 0.5)
    reset = resolved(own, ["model.name=swin3d_t", "augment.mean=null", "augment.std=null"])
    assert (reset.augment.mean, reset.augment.std) == (swin.mean, swin.std)


@pytest.mark.parametrize("model", ["motioncnn_tiny_rgb", "swin3d_tiny", "videomae_tiny"])
def test_swapping_in_an_appearance_capable_model_turns_debiasing_on(model):
    from motionfit.data.augment import build_stage, registered

    decided = [name for name, a in registered().items() if a.model_decided()]
    assert len(decided) == 2  # the appearance debiasing: still mix and foreground paste

    def probabilities(config):
        return [config.augment.settings(name).p for name in decided]

    demo = resolved("demo")
    assert probabilities(demo) == [0.0, 0.0]
    assert [s.name for s in build_stage(demo.augment, "batch")] == ["mix"]  # motion-only CNN
    swapped = resolved("demo", [f"model.name={model}"])
    assert probabilities(swapped) == [0.5, 0.5]
    assert [s.name for s in build_stage(swapped.augment, "batch")] == [*decided, "mix"]
    # a value set on purpose stays, for either kind of model; a saved run config keeps its own
    off = resolved("demo", [f"model.name={model}", f"augment.{decided[0]}.p=0"])
    assert probabilities(off) == [0.0, 0.5]
    on = resolved("demo", [f"augment.{decided[1]}.p=0.3"])
    assert probabilities(on) == [0.0, 0.3]
