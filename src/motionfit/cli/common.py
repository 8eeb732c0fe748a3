"""Options and helpers shared by several commands."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from motionfit.errors import ConfigError, RunError

if TYPE_CHECKING:
    from motionfit.config import Config

console = Console()
err_console = Console(stderr=True)

SET_OPTION = typer.Option(
    None,
    "--set",
    help="Override a config field: section.field=value (repeatable), e.g. optim.lr=1e-4.",
)
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Recipe name or YAML file.")
DATA_OPTION = typer.Option(None, "--data", help="Training data (folder, list, split file).")
VAL_OPTION = typer.Option(None, "--val", help="Validation data (default: 70/30 split).")
RUN_OUT_OPTION = typer.Option(None, "--out", "-o", help="Run directory to create.")
FORCE_OPTION = typer.Option(
    False,
    "--force",
    help="Write into an output folder that holds other files (never over the command's input).",
)


def _set_quiet(quiet: bool) -> bool:
    from motionfit.progress import set_quiet

    set_quiet(quiet)
    return quiet


QUIET_OPTION = typer.Option(
    False,
    "--quiet",
    "-q",
    help="No progress bar (there is none when stderr is not a terminal either).",
    callback=_set_quiet,
)


def check_config_file(name_or_path: str | Path | None, option: str = "--config") -> None:
    """:class:`ConfigError` (one line) for a ``--config`` file that is a folder, unreadable, not
    UTF-8 text, or gives one key twice (YAML keeps the last silently); a recipe name passes.
    Files it ``extends`` are checked the same way."""
    seen: set[Path] = set()
    while name_or_path is not None:
        path = Path(name_or_path)
        if not path.exists() or path.resolve() in seen:
            return  # a recipe name (or a missing file: load_config names it), or a cycle
        seen.add(path.resolve())
        if path.is_dir():
            raise ConfigError(f"{option} {path} is a folder; {option} takes a YAML file")
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"{option} {path}: cannot read it ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{option} {path}: not UTF-8 text (byte {exc.start}); a config is a YAML file"
            ) from exc
        parent = _duplicate_free_yaml(text, path, option)
        if not isinstance(parent, str):
            return
        if not Path(parent).is_absolute() and (path.parent / parent).exists():
            parent = str(path.parent / parent)
        name_or_path, option = parent, f"{path}: extends"


def _duplicate_free_yaml(text: str, path: Path, option: str) -> object:
    """The ``extends`` value of the YAML ``text``; :class:`ConfigError` naming a key given
    twice in one mapping. Invalid YAML is left to the config loader to report."""
    import yaml

    # Hand-written: PyYAML has no duplicate-key check; this loader adds it to SafeLoader.
    class _Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys: set[object] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, str | int | float | bool) and key in keys:
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    f"{option} {path}: line {line}: key '{key}' is given twice (which one "
                    "counts is not what you meant; keep one)"
                )
            keys.add(key)
        return loader.construct_mapping(node)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no Python objects
    except yaml.YAMLError:
        return None
    return data.get("extends") if isinstance(data, dict) else None


def load_with_data(
    config: str | None, overrides: list[str] | None, data: Mapping[str, str | None]
) -> Config:
    """``--config`` with the ``--set`` overrides, then ``KEY=VALUE`` for each data option given
    (``data`` maps a config key such as ``data.source`` to the option's value)."""
    from motionfit.config import load_config

    check_config_file(config)
    sets = [f"{key}={value}" for key, value in data.items() if value]
    return load_config(config, [*(overrides or []), *sets])


def run_config(
    *,
    resume: Path | None,
    out: Path | None,
    config: str | None,
    overrides: list[str] | None,
    data: Mapping[str, str | None],
    default_config: str | None = None,
    resume_conflicts: Iterable[object] = (),
) -> tuple[Config, Path]:
    """The config and run directory of a command that starts or continues a run: with
    ``--resume RUN_DIR`` the run's own config plus ``--set`` overrides (``--config``, a data
    option or any of ``resume_conflicts`` is an error); else ``--config`` (or
    ``default_config``) with the data options, and ``--out`` is required."""
    from motionfit.config import load_config
    from motionfit.run import RunPaths

    if resume is not None:
        if config or any(data.values()) or any(resume_conflicts):
            raise ConfigError(
                "--resume continues a run with its own config and data; "
                "only --set overrides may be added"
            )
        if resume.exists() and not resume.is_dir():
            raise RunError(f"--resume {resume} is a file; --resume takes a run directory")
        if not RunPaths(resume).config.is_file():
            raise RunError(
                f"--resume {resume}: nothing to resume (no {RunPaths(resume).config.name})"
            )
        check_config_file(RunPaths(resume).config, "--resume")
        return load_config(RunPaths(resume).config, overrides), resume
    if out is None:
        raise ConfigError("missing --out RUN_DIR (where the run is written)")
    return load_with_data(config or default_config, overrides, data), out


def quiet_lightning() -> None:
    """Keep Lightning's info chatter (tips, device lines, a torch-pytree deprecation notice it
    triggers on torch >= 2.10, no-logger notices) out of the console."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # output.tensorboard=false: the task still logs step values for a logger there is not
    warnings.filterwarnings("ignore", message=r"You called `self.log\(.*but have no logger")
    # a resumed run's checkpoints folder holds its own checkpoints, by design
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # metrics.csv and the curves are per epoch: fewer batches than the step-log interval is fine
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
