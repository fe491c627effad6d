"""Terminal output shared by subcommands: the stdout console and JSON for scripts."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from mdsnn_search.terminal import console as make_console

console = make_console()
"""Tables and results on stdout, at the terminal's width or unwrapped in a log."""


def print_json(document: Any) -> None:
    """One JSON object on stdout (non-finite floats become null)."""
    sys.stdout.write(json.dumps(_finite(document), indent=2, sort_keys=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
