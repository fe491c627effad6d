"""Every number in a config is finite.

YAML reads ``.inf`` and ``.nan`` as floats, and pydantic accepts them wherever a float goes unless
each field says otherwise: an infinite range bound or loss weight then fails trials long after the
study was written. One walk over a validated config, rather than a flag on every field of every
config class, keeps the rule from being forgotten on the next field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel


def non_finite_fields(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """``(field.path, value)`` of every infinite or NaN float in ``value``, depth first."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path or "(top level)", value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from non_finite_fields(getattr(value, name), _join(path, name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from non_finite_fields(item, _join(path, str(key)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from non_finite_fields(item, _join(path, str(index)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
