"""Precise BN: re-estimate every batch-norm layer's running statistics over the training data.

Running statistics are an exponential average taken while the weights were still moving; after
a short training (a search trial, a teacher on a small data set) they describe a network that no
longer exists, and evaluation with them can fall far below what the weights can do (an event
teacher scored 62.5 % with them and 100 % once they were re-estimated). Wu & Johnson
("Rethinking 'Batch' in BatchNorm", 2021) call the remedy precise BN: after training, run the
frozen network over the training data with only the BN layers computing batch statistics, and
set the running statistics to their population average.

Each batch is normalised with its own statistics (the BN layers alone are in training mode), so
downstream layers see what the new statistics will give them; the running statistics are put
back after every batch, so the weights a folded layer quantizes (``W * gamma/sigma``) stay those
of the model being recalibrated; at the end every layer gets the pooled mean and variance of all
batches (the variance includes the spread of the batch means, so it is the population's).

One exception: a BN folded into *quantized* weights keeps its variance. There sigma is part of
the deployed weights, ``Q(W * gamma/sigma)``, and the weights were trained on the grid that sigma
gave; a new sigma re-rounds them (measured on digits, W2/U2/BN8 students distilled for two
epochs, 4 seeds: 86-91 % with the trained sigma, 56-79 % with a re-estimated one, 90-92 % with
only the mean re-estimated as below). Such a layer runs as deployed during the pass, and only its
mean, which sets the folded bias, is moved so that its output is centred where BN means it to be
(:class:`_DeployedMean`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from torch import nn

from mdsnn_search.snn.layers import QuantConvBN2d

logger = logging.getLogger(__name__)


class _BatchStatistics:
    """A BN layer normalising each batch by its own statistics; pools their first and second
    moments, and puts the layer's running statistics back after every batch."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        assert bn.running_mean is not None and bn.running_var is not None
        self.bn = bn
        tracked = None if bn.num_batches_tracked is None else bn.num_batches_tracked.clone()
        self.saved = (bn.running_mean.clone(), bn.running_var.clone(), bn.momentum, tracked)
        self.weight = 0.0
        self.mean = torch.zeros_like(bn.running_mean, dtype=torch.float64)
        self.square = torch.zeros_like(bn.running_var, dtype=torch.float64)
        bn.momentum = 1.0  # after a forward, the running statistics are that batch's
        bn.train()

    def add_batch(self, weight: float) -> None:
        bn = self.bn
        assert bn.running_mean is not None and bn.running_var is not None
        mean, var = bn.running_mean.double(), bn.running_var.double()
        self.weight += weight
        self.mean += weight * mean
        self.square += weight * (var + mean.square())
        bn.running_mean.copy_(self.saved[0])
        bn.running_var.copy_(self.saved[1])

    def finish(self, *, apply: bool) -> None:
        """Write the pooled statistics (without ``apply``, or without a batch, the layer's own
        again) and restore its momentum and batch counter."""
        bn = self.bn
        assert bn.running_mean is not None and bn.running_var is not None
        if apply and self.weight > 0:
            mean = self.mean / self.weight
            bn.running_mean.copy_(mean)
            bn.running_var.copy_((self.square / self.weight - mean.square()).clamp_min(0.0))
        else:
            bn.running_mean.copy_(self.saved[0])
            bn.running_var.copy_(self.saved[1])
        bn.momentum = self.saved[2]
        if self.saved[3] is not None and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.copy_(self.saved[3])


class _DeployedMean:
    """A conv whose BN is folded into quantized weights, run as deployed; pools its output's
    per-channel mean and moves the BN mean so that the output is centred on beta.

    The deployed output is ``conv(x, Q(W s)) + beta - s*mu`` with ``s = gamma/sigma``, so an
    output mean of ``m`` means the data's mean is ``mu + (m - beta)/s``; sigma, and with it the
    quantized weights, stays as trained. During the pass each batch's output is centred on beta
    with that batch's own mean, as a plain BN layer in training mode centres it, so the layers
    after it are measured on what the new mean will give them.
    """

    def __init__(self, layer: QuantConvBN2d) -> None:
        self.layer = layer
        self.total: torch.Tensor | None = None
        self.count = 0
        self.hook = layer.register_forward_hook(self._centre)

    def _centre(self, module: nn.Module, args: object, output: torch.Tensor) -> torch.Tensor:
        per_channel = output.transpose(0, 2).flatten(1)  # [C, ...] from [T, B, C, H, W]
        mean = per_channel.double().mean(1)
        self.total = mean * per_channel.shape[1] + (0 if self.total is None else self.total)
        self.count += per_channel.shape[1]
        offset = (mean - self.layer.bn.bias.double()).to(output.dtype)
        return output - offset.view(1, 1, -1, 1, 1)

    def add_batch(self, weight: float) -> None:
        """Nothing to do: the forward hook has counted the batch."""

    def finish(self, *, apply: bool) -> None:
        self.hook.remove()
        bn = self.layer.bn
        assert bn.running_mean is not None and bn.running_var is not None
        if apply and self.total is not None:
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            shift = (self.total / self.count - bn.bias.double()) / scale
            bn.running_mean.add_(shift.to(bn.running_mean.dtype))


def _estimators(model: nn.Module) -> list[_BatchStatistics | _DeployedMean]:
    folded = [
        m
        for m in model.modules()
        if isinstance(m, QuantConvBN2d)
        and m.bn_quantizer is not None
        and m.weight_quantizer is not None
    ]
    in_folded = {id(m.bn) for m in folded}
    plain = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and m.track_running_stats
        and id(m) not in in_folded
    ]
    return [_BatchStatistics(bn) for bn in plain] + [_DeployedMean(layer) for layer in folded]


@torch.no_grad()
def recalibrate_bn_(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    max_batches: int | None = None,
) -> int:
    """Set every BN layer's running statistics of ``model`` to their average over ``batches``
    (only the mean of a BN folded into quantized weights: see the module docstring).

    ``batches`` yields ``(x_seq, y, ...)`` as a loader does (only ``x_seq`` is used);
    ``max_batches`` caps how many are used (None: all). The model's training mode is restored
    afterwards. Returns the number of batches used; with none, or when a forward raises, nothing
    changes.
    """
    was_training = {m: m.training for m in model.modules()}
    device = next(model.parameters()).device
    model.eval()
    estimators = _estimators(model)
    used, completed = 0, False
    try:
        for x, *_ in batches:
            if not estimators or (max_batches is not None and used >= max_batches):
                break
            model(x.to(device, non_blocking=True))
            for estimator in estimators:
                estimator.add_batch(float(x.shape[1]))  # [T, B, ...]: weight by samples
            used += 1
        completed = True
    finally:
        for estimator in estimators:
            estimator.finish(apply=completed)
        for module, mode in was_training.items():
            module.training = mode
    logger.info(
        "re-estimated the statistics of %d BN layers over %d batches", len(estimators), used
    )
    return used
