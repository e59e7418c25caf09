"""Models by name: ``@register("dense")``, ``create_model("dense", code_size=32)``, ``list_models()``."""

from __future__ import annotations

from typing import Any, Callable

from .errors import ConfigError

_MODELS: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name``."""

    def wrap(cls: type) -> type:
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return wrap


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    _ensure_loaded()
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; expected one of {sorted(_MODELS)}") from None


def create_model(name: str, **config: Any):
    """Build the registered model ``name`` from keyword hyperparameters."""
    cls = get_model_class(name)
    return cls(cls.config_class.from_dict(config))


def _ensure_loaded() -> None:
    # Importing the model modules runs their @register decorators.
    from . import models  # noqa: F401
