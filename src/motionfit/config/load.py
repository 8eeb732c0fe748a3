"""Recipes, config files and ``--set`` overrides -> a validated :class:`Config`.

Recipes (``motionfit/recipes/*.yaml``) are partial configs; a config file may name another
recipe or file under ``extends:`` and override only what differs. Loading reads YAML and the
schema only (no torch); the values a model decides are filled in when a run is put together
(:func:`motionfit.models.data_config.resolve_model_defaults`).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from motionfit.atomic import atomic_write_text
from motionfit.config.schema import Config, SectionError, nest_augment_aliases
from motionfit.errors import ConfigError


def recipe_dir() -> Path:
    """The folder of the recipes shipped inside the package."""
    return Path(str(resources.files("motionfit") / "recipes"))


def list_recipes() -> dict[str, str]:
    """Recipe name -> its one-line description."""
    out = {}
    for path in sorted(recipe_dir().glob("*.yaml")):
        raw = _read_yaml(path)
        out[path.stem] = str(raw.get("description", ""))
    return out


def load_config(
    name_or_path: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Resolve a recipe name or YAML file (following ``extends:``), apply ``--set`` overrides
    (``section.field=value``) and validate. ``None`` starts from the schema defaults."""
    raw = {} if name_or_path is None else _resolve_raw(str(name_or_path), seen=())
    source = "" if name_or_path is None else str(name_or_path)
    _check_keys(raw, source)
    for item in overrides or []:
        raw = _mark_user_flip_map(apply_override(raw, item), apply_override({}, item))
    return validate_config(raw, source)


def validate_config(raw: dict[str, Any], source: str = "") -> Config:
    """Build a :class:`Config` from a plain dict; errors name the key and the source file."""
    _check_keys(raw, source)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        section = err.get("ctx", {}).get("error")
        if isinstance(section, SectionError):  # inside an augmentation's own section
            key, err = f"{key}.{section.key}", section.error
        got = err.get("input")
        got_text = f" (got {got!r})" if not isinstance(got, dict) else ""
        message = err["msg"].removeprefix("Value error, ")  # our validators' own words
        raise ConfigError(f"{_prefix(source)}config key '{key}': {message}{got_text}") from exc


def apply_override(raw: dict[str, Any], item: str) -> dict[str, Any]:
    """Return a copy of ``raw`` with one ``section.field=value`` override applied.

    The value is parsed as YAML (``0.1``, ``true``, ``[1, 2]``, ``{left: right}``) and then
    validated against the field's type with the rest of the config.
    """
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form section.field=value")
    key, _, text = item.partition("=")
    path = _canonical_path(key.strip().split("."))
    _check_path(path)
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{key}': cannot parse value {text!r}") from exc
    value = _coerce_scalar(path, text, value)
    out = _deep_copy(raw)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{key}': '{part}' is not a section")
    node[path[-1]] = value
    return out


def _canonical_path(path: list[str]) -> list[str]:
    """An override's key with an old flat augmentation key (``augment.grayscale``) turned into
    its section's field (``augment.grayscale.p``), with the deprecation note."""
    if len(path) != 2 or path[0] != "augment":
        return path
    nested = nest_augment_aliases({path[1]: None})
    if path[1] in nested:
        return path
    [(name, section)] = nested.items()
    return ["augment", name, *section]


def dump_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, config.to_yaml())


def field_keys() -> list[str]:
    """Every valid ``section.field`` key, and ``augment.NAME.field`` of every registered
    augmentation (for suggestions and documentation)."""
    keys: list[str] = []
    for section, info in Config.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(f"{section}.{name}" for name in annotation.model_fields)
        else:
            keys.append(section)
    for name, model in _augment_sections().items():
        keys.extend(f"augment.{name}.{field}" for field in model.model_fields)
    return keys


# ---------------------------------------------------------------------------------------------
# helpers


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping; ConfigError (one line naming the file) for a folder, a file
    that cannot be read or is not UTF-8, invalid YAML, a key given twice, or not a mapping."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; a config is a YAML file")
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); a config is a YAML file"
        ) from exc
    try:
        data = yaml.load(text, Loader=_unique_key_loader(path))  # a SafeLoader: no objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections")
    return data


def _unique_key_loader(path: Path) -> type[yaml.SafeLoader]:
    """PyYAML's SafeLoader, with a ConfigError for a key given twice in one mapping (YAML
    would keep the last silently)."""

    # Hand-written: PyYAML has no duplicate-key check; this adds it to SafeLoader.
    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys: set[object] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, str | int | float | bool) and key in keys:
                raise ConfigError(
                    f"{path}: line {key_node.start_mark.line + 1}: key '{key}' is given twice "
                    "(which one counts is not what you meant; keep one)"
                )
            keys.add(key)
        return loader.construct_mapping(node)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return UniqueKeyLoader


def _resolve_raw(name_or_path: str, seen: tuple[str, ...]) -> dict[str, Any]:
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} or path.exists()):
        path = recipe_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            names = list(list_recipes())
            close = difflib.get_close_matches(name_or_path, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (recipes: {', '.join(names)})"
            raise ConfigError(f"no recipe or config file named '{name_or_path}'{hint}")
    key = str(path.resolve())
    if key in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle")
    raw = _nest_layer(_read_yaml(path))
    if not path.resolve().is_relative_to(recipe_dir().resolve()):
        raw = _mark_user_flip_map(raw, raw)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: config key 'extends' must be a recipe name or file")
    parent_ref = parent
    if not (recipe_dir() / f"{parent}.yaml").exists() and not Path(parent).is_absolute():
        parent_ref = str(path.parent / parent)
    base = _resolve_raw(parent_ref, (*seen, key))
    _check_keys(base, parent_ref)
    _check_keys(raw, str(path))
    return _deep_merge(base, raw)


def _mark_user_flip_map(raw: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A flip map the user wrote (in ``layer``: their file or a ``--set``) is strict: its
    unknown classes are errors unless the layer itself says ``flip_label_map_unknown``."""
    augment = layer.get("augment")
    if not isinstance(augment, dict) or "flip_label_map" not in augment:
        return raw
    if "flip_label_map_unknown" in augment:
        return raw
    out = _deep_copy(raw)
    out.setdefault("augment", {})["flip_label_map_unknown"] = "error"
    return out


def _check_keys(raw: dict[str, Any], source: str) -> None:
    augments = _augment_sections()
    for section, value in raw.items():
        _check_path([section], source)
        if isinstance(value, dict) and section in _sections():
            for field, item in value.items():
                _check_path([section, field], source)
                if section == "augment" and field in augments and isinstance(item, dict):
                    for name in item:
                        _check_path([section, field, name], source)


def _augment_sections() -> dict[str, type[BaseModel]]:
    """Registered augmentation name -> its section's model (``augment.NAME``)."""
    from motionfit.data.augment import registered

    return {name: a.settings_model for name, a in registered().items()}


def _nest_layer(raw: dict[str, Any]) -> dict[str, Any]:
    """One config layer with its old flat augmentation keys moved into their sections (so
    layers merge field by field)."""
    augment = raw.get("augment")
    if not isinstance(augment, dict):
        return raw
    return {**raw, "augment": nest_augment_aliases(augment)}


def _sections() -> dict[str, type[BaseModel]]:
    out = {}
    for name, info in Config.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = info.annotation
    return out


def _check_path(path: list[str], source: str = "") -> None:
    sections = _sections()
    key = ".".join(path)
    valid = field_keys()
    if len(path) == 1 and (path[0] in sections or path[0] in Config.model_fields):
        return
    if len(path) == 2 and path[0] in sections and path[1] in sections[path[0]].model_fields:
        return
    augments = _augment_sections()
    in_section = path[0] == "augment" and len(path) in (2, 3) and path[1] in augments
    if in_section and (len(path) == 2 or path[2] in augments[path[1]].model_fields):
        return
    candidates = valid + list(sections)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not close and len(path) == 2:
        close = [k for k in valid if k.endswith("." + path[1])][:1]
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"{_prefix(source)}unknown config key '{key}'{hint}")


def _field_annotation(path: list[str]) -> Any:
    section = _sections().get(path[0])
    if section is not None and len(path) == 2 and path[1] in section.model_fields:
        return section.model_fields[path[1]].annotation
    augment = _augment_sections().get(path[1]) if len(path) == 3 else None
    if path[0] == "augment" and augment is not None:
        return augment.model_fields[path[2]].annotation
    return None


def _coerce_scalar(path: list[str], text: str, value: Any) -> Any:
    """Keep the literal text for string fields (YAML would turn '2' or 'on' into int/bool)."""
    if value is not None and _field_annotation(path) in (str, str | None):
        return text.strip()
    return value


def _deep_copy(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in raw.items()}


def _deep_merge(base: dict[str, Any], top: dict[str, Any], sections: Any = None) -> dict[str, Any]:
    """``top`` over ``base``, section by section (and ``augment.NAME`` field by field); other
    mappings (``flip_label_map``) are values, replaced whole."""
    sections = _sections() if sections is None else sections
    out = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key in sections:
            inner = _augment_sections() if key == "augment" else {}
            out[key] = _deep_merge(out[key], value, inner)
        else:
            out[key] = value
    return out
