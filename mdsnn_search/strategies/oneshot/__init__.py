"""One-shot precision search (docs/design/methods.md section 6): train one any-precision
supernet, score thousands of configurations with it, fine-tune only the proxy front as ordinary
trials."""

from mdsnn_search.strategies.oneshot.strategy import OneShot, prepare_front
from mdsnn_search.strategies.oneshot.supernet import Supernet

__all__ = ["OneShot", "Supernet", "prepare_front"]
