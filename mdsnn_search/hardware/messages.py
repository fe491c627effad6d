"""Error-message helpers shared by the preset loader, the input readers and ``estimate_cost``."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pydantic import ValidationError


def validation_message(exc: ValidationError) -> str:
    """One clause per pydantic error, each naming where it is: ``layers.2.kernel: ...``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(item) for item in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def unknown_layer_message(what: str, key: object, names: Sequence[str]) -> str:
    """``<what>: unknown layer 'x'; did you mean 'y'? (layers: ...)``"""
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{what}: unknown layer {key!r}{hint} (layers: {', '.join(names)})"
