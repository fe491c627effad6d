"""The search strategies, each a plug-in of :mod:`mdsnn_search.search.strategy`: ``trials``
(train every trial), ``oneshot`` (a supernet, then fine-tune its proxy front) and ``sensitivity``
(per-layer loss increases allocated over the EDAP range, then the sampler). They are found
through the ``mdsnn_search.strategies`` entry points, never imported by the search core."""

from mdsnn_search.strategies.oneshot.strategy import OneShot
from mdsnn_search.strategies.sensitivity import Sensitivity
from mdsnn_search.strategies.trials import TrainEveryTrial

__all__ = ["OneShot", "Sensitivity", "TrainEveryTrial"]
