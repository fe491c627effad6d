"""Spec drift: has the part of a spec that determines a trial's outcome changed since the study
began?

A study stores a hash of its spec's trial-determining sections (data, model, teacher, training,
search space, hardware, objectives and constraints; a oneshot study's strategy and oneshot
section too). A resume whose hash differs would mix trials of two different experiments in one
front, so it is refused, naming each changed field, unless the user accepts the change.
Everything else (the trial count, sampler, seed, baselines, execution, storage) may change
between runs. The hash is taken over the spec as written (relative paths
stay relative), so drivers on machines with different working directories agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DETERMINING: tuple[tuple[str, ...], ...] = (
    ("data",),
    ("model",),
    ("teacher",),
    ("training",),
    ("search_space",),
    ("hardware",),
    ("study", "objectives"),
    ("study", "constraints"),
)
"""Paths into a spec document of the settings that determine a trial's outcome."""

DEFAULT_STRATEGY = "trials"
"""Under any other strategy its name and its own spec section (if any: ``oneshot``) determine the
trials too (a oneshot study's supernet, proxy search and front come from them). They are left
out of plain studies' hashes, which therefore stay those their studies stored."""

IGNORED: tuple[tuple[str, ...], ...] = (("data", "cache_dir"),)
"""Settings inside those sections that do not: where event frames are cached."""

_MAX_SHOWN = 6


def determining(document: dict[str, Any]) -> dict[str, Any]:
    """The trial-determining settings of a spec document (``StudySpec.model_dump(mode="json")``)."""
    picked: dict[str, Any] = {}
    strategy = _get(document, ("study", "strategy"))
    if strategy in (None, DEFAULT_STRATEGY):
        paths = DETERMINING
    else:
        paths = (*DETERMINING, ("study", "strategy"), (str(strategy),))
    for path in paths:
        value = _get(document, path)
        for ignored in IGNORED:
            if ignored[: len(path)] == path and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != ignored[len(path)]}
        picked[".".join(path)] = value
    return picked


def spec_hash(document: dict[str, Any]) -> str:
    """Content hash of :func:`determining` (16 hex digits)."""
    blob = json.dumps(determining(document), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def changed_fields(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Each trial-determining field that differs, as ``path: old -> new``, in spec order."""
    changes: list[str] = []
    old, new = determining(stored), determining(wanted)
    for key in dict.fromkeys([*old, *new]):
        # A field determining on one side only (a oneshot setting) is compared as written.
        path = tuple(key.split("."))
        _diff(key, old.get(key, _get(stored, path)), new.get(key, _get(wanted, path)), changes)
    return changes


def describe(changes: list[str]) -> str:
    shown = "; ".join(changes[:_MAX_SHOWN])
    more = f"; and {len(changes) - _MAX_SHOWN} more" if len(changes) > _MAX_SHOWN else ""
    return shown + more


def _diff(path: str, old: Any, new: Any, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _diff(f"{path}.{key}", old.get(key), new.get(key), out)
    elif old != new:
        out.append(f"{path}: {_short(old)} -> {_short(new)}")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value
