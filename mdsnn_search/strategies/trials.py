"""``study.strategy: trials`` (the default): every searched trial is proposed by the spec's
sampler and trained from the teacher's copy; the base :class:`Strategy` is exactly that."""

from __future__ import annotations

from mdsnn_search.search.strategy import STRATEGIES, Strategy


@STRATEGIES.register("trials")
class TrainEveryTrial(Strategy):
    """Plain search: nothing before the trials, every student starts from the teacher."""
