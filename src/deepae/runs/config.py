"""Training configurations: a preset, then a config file (JSON, TOML, YAML), then explicit options."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ..api import AutoEncoder
from ..errors import ConfigError
from ..presets import get_preset

ESTIMATOR_PARAMS = frozenset(AutoEncoder().get_params())
_CONFIG_EXTRAS = ("preset", "data", "data_dir")


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A training configuration from JSON, TOML or YAML (when PyYAML is installed): a flat table of
    ``AutoEncoder`` parameters, optionally with "preset", "data" and "data_dir"."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
        if suffix == ".json":
            values = json.loads(text)
        elif suffix == ".toml":
            values = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(
                    f"config file '{path}': reading YAML needs PyYAML (pip install pyyaml); or use JSON/TOML"
                ) from None
            values = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file '{path}': unsupported type {suffix or '(none)'!r}; expected .json, .toml, .yaml")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse config file '{path}': {exc}") from None
    except ConfigError:
        raise
    except Exception as exc:  # yaml.YAMLError: PyYAML is optional, so its errors are caught by base class
        raise ConfigError(f"cannot parse config file '{path}': {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file '{path}' must hold a table of parameters, got {type(values).__name__}")
    unknown = sorted(set(values) - ESTIMATOR_PARAMS - set(_CONFIG_EXTRAS))
    if unknown:
        raise ConfigError(
            f"config file '{path}': unknown key(s) {unknown}; expected AutoEncoder parameters or {list(_CONFIG_EXTRAS)}"
        )
    return values


def resolve_params(
    preset: str | None = None, config: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None, str | None]:
    """Estimator parameters from a preset, then a config file's values, then explicit options.

    Returns ``(params, preset name, data spec)``; ``None`` overrides are "not given".
    """
    config = dict(config or {})
    preset = config.pop("preset", None) if preset is None else preset
    data = config.pop("data", None)
    config.pop("data_dir", None)
    params: dict[str, Any] = {}
    if preset is not None:
        chosen = get_preset(preset)
        params.update(chosen.params)
        data = data or chosen.data
    params.update(config)
    params.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(params) - ESTIMATOR_PARAMS)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; expected some of {sorted(ESTIMATOR_PARAMS)}")
    for key in ("hidden", "init_parts"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return params, preset, data


def parse_sizes(text: str) -> tuple[int, ...]:
    """"128,64" -> (128, 64); "" -> ()."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"hidden={text!r}; expected comma-separated layer sizes such as 128,64") from None
    if any(s <= 0 for s in sizes):
        raise ConfigError(f"hidden={text!r}; layer sizes must be positive integers")
    return sizes
