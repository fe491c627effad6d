"""The search strategies, each a plug-in of :mod:`mdsnn_search.search.strategy`: ``trials``
(train every trial) and ``oneshot`` (a supernet, then fine-tune its proxy front). They are found
through the ``mdsnn_search.strategies`` entry points, never imported by the search core."""

from mdsnn_search.strategies.oneshot.strategy import OneShot
from mdsnn_search.strategies.trials import TrainEveryTrial

__all__ = ["OneShot", "TrainEveryTrial"]
