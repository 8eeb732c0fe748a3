"""Search spaces: which config fields a sweep varies, over which values.

A space file is YAML, one entry per config field (``section.field``, the keys of
``motionfit config show``)::

    optim.lr:              {type: loguniform, low: 1.0e-4, high: 1.0e-3}
    model.dropout:         {type: uniform, low: 0.3, high: 0.6}
    sampling.jitter_max:   {type: int, low: 1, high: 3}            # optional: step (default 1)
    sampling.jitter_prob:  {type: choice, values: [0.0, 0.2, 0.4]}

``loguniform`` and ``uniform`` draw floats in ``[low, high]``; ``int`` draws integers in
``[low, high]`` on ``step``; ``choice`` picks one of ``values`` (numbers, strings, booleans or
null). A grid search (``sampler=grid``) takes every ``int`` and ``choice`` value and ``points``
values (default 3) spread evenly over a float range, geometrically for ``loguniform``.

Every key and every bound is checked against the config schema before a trial runs, so an
unknown key or a value the field refuses is a :class:`~motionfit.errors.ConfigError` naming
the space file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import yaml

from motionfit.config import Config, validate_config
from motionfit.errors import ConfigError

Kind = Literal["loguniform", "uniform", "int", "choice"]
KINDS: tuple[str, ...] = ("loguniform", "uniform", "int", "choice")
DEFAULT_SPACE = "seed_ranges"
DEFAULT_GRID_POINTS = 3
_SETTINGS = {
    "loguniform": {"type", "low", "high", "points"},
    "uniform": {"type", "low", "high", "points"},
    "int": {"type", "low", "high", "step"},
    "choice": {"type", "values"},
}


@dataclass(frozen=True)
class Param:
    """One searched config field and the values it may take."""

    key: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    values: tuple[Any, ...] = ()
    points: int = DEFAULT_GRID_POINTS

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw this field's value for ``trial``."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step)
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "loguniform")

    def grid(self) -> list[Any]:
        """The values a grid search tries."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, self.step))
        spread = np.geomspace if self.kind == "loguniform" else np.linspace
        points = spread(self.low, self.high, self.points) if self.points > 1 else [self.low]
        return sorted({min(self.high, max(self.low, float(f"{p:.4g}"))) for p in points})

    def bounds(self) -> list[Any]:
        """The extreme values (every value for ``choice``), checked against the schema."""
        return list(self.values) if self.kind == "choice" else [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        """The entry as written in a space file (stored with a study to detect changes)."""
        if self.kind == "choice":
            return {"type": self.kind, "values": list(self.values)}
        if self.kind == "int":
            low, high = int(self.low), int(self.high)
            return {"type": self.kind, "low": low, "high": high, "step": self.step}
        return {"type": self.kind, "low": self.low, "high": self.high, "points": self.points}


@dataclass(frozen=True)
class SearchSpace:
    """The searched fields of a sweep, in file order."""

    params: tuple[Param, ...]
    source: str = ""

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw one value per field for ``trial``: ``{section.field: value}``."""
        return {param.key: param.suggest(trial) for param in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space of Optuna's ``GridSampler``."""
        return {param.key: param.grid() for param in self.params}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The space as a plain mapping (the YAML it was read from, normalized)."""
        return {param.key: param.to_dict() for param in self.params}


def space_dir() -> Path:
    """The folder of the space files shipped inside the package."""
    return Path(str(resources.files("motionfit") / "recipes" / "spaces"))


def load_space(name_or_path: str | Path = DEFAULT_SPACE) -> SearchSpace:
    """Read a space file (or a shipped space by name, e.g. ``seed_ranges``)."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = space_dir() / f"{name_or_path}.yaml"
        if not shipped.is_file():
            names = ", ".join(sorted(p.stem for p in space_dir().glob("*.yaml")))
            raise ConfigError(f"no space file or shipped space named '{name_or_path}' ({names})")
        path = shipped
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML") from exc
    return parse_space(raw, str(path))


def parse_space(raw: Any, source: str = "") -> SearchSpace:
    """Build a :class:`SearchSpace` from the mapping of a space file; errors name the key."""
    where = f"{source}: " if source else ""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}a space is a non-empty mapping of section.field: {{type: ...}}")
    return SearchSpace(tuple(_param(str(k), v, where) for k, v in raw.items()), source)


def check_space(space: SearchSpace, base: Config) -> None:
    """Raise :class:`ConfigError` unless every key is a config field and every bound (every
    value of a ``choice``) is a value that field accepts on top of ``base``."""
    for param in space.params:
        for value in param.bounds():
            apply_params(base, {param.key: value}, space.source)
        section, field = param.key.split(".")
        annotation = type(getattr(base, section)).model_fields[field].annotation
        if param.kind in ("uniform", "loguniform") and annotation is int:
            raise ConfigError(f"{space.source}: '{param.key}' is an integer field: use type: int")


def apply_params(base: Config, params: dict[str, Any], source: str = "") -> Config:
    """``base`` with ``{section.field: value}`` set, validated against the schema."""
    raw = base.model_dump(mode="json")
    for key, value in params.items():
        parts = key.split(".")
        if len(parts) != 2:
            raise ConfigError(f"{source}: '{key}' is not a section.field config key")
        section = raw.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: '{parts[0]}' is not a config section")
        section[parts[1]] = value
    return validate_config(raw, source)


def _param(key: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict) or spec.get("type") not in KINDS:
        raise ConfigError(f"{where}'{key}' needs {{type: {'|'.join(KINDS)}, ...}}, got {spec!r}")
    kind = spec["type"]
    unknown = set(spec) - _SETTINGS[kind]
    if unknown:
        allowed = ", ".join(sorted(_SETTINGS[kind]))
        raise ConfigError(f"{where}'{key}': unknown setting(s) {sorted(unknown)} ({allowed})")
    if kind == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}'{key}': choice needs a non-empty list 'values'")
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
            raise ConfigError(f"{where}'{key}': choice values must be numbers, strings or null")
        return Param(key, kind, values=tuple(values))
    low, high = _number(spec, "low", key, where), _number(spec, "high", key, where)
    if not low <= high:
        raise ConfigError(f"{where}'{key}': low ({low}) must be <= high ({high})")
    if kind == "int":
        step = spec.get("step", 1)
        if low != int(low) or high != int(high) or not isinstance(step, int) or step < 1:
            raise ConfigError(f"{where}'{key}': int needs integer low/high and step >= 1")
        return Param(key, kind, low=low, high=high, step=step)
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}'{key}': loguniform needs low > 0, got {low}")
    points = spec.get("points", DEFAULT_GRID_POINTS)
    if not isinstance(points, int) or points < 1:
        raise ConfigError(f"{where}'{key}': points must be an integer >= 1, got {points!r}")
    return Param(key, kind, low=low, high=high, points=points)


def _number(spec: dict[str, Any], name: str, key: str, where: str) -> float:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}'{key}': '{name}' must be a number, got {value!r}")
    return float(value)
