"""Does the proxy rank? Its noise from the finite validation split against the space's spread.

A configuration's proxy accuracy is a mean over the validation samples, so another draw of as
many samples would move it by about sqrt(p(1-p)/n). Two configurations can be ranked only if
their accuracies differ by more than that. Measured on the scored population:

- ``rank_noise``: per configuration, the std over bootstrap resamples of the validation split
  of its accuracy less the population's mean accuracy on the same resample, averaged over the
  population. All configurations are scored on the same samples, so a resample that is easy for
  all moves no rank: only what moves a configuration against the others counts;
- ``sample_noise``: the same without subtracting the population's mean (about sqrt(p(1-p)/n));
- ``spread``: the std of the proxy accuracy over the population;
- ``split_half_tau``: Kendall tau between the accuracies on two disjoint random halves of the
  split, which is how well the proxy ranks the population against itself (1: perfectly).

The proxy ranks the space when ``rank_noise`` is well below ``spread``; where it is not, more
validation samples (``data.val_fraction``) lower the noise as 1/sqrt(n).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import kendalltau

RESAMPLES = 200


@dataclass(frozen=True)
class RankNoise:
    configurations: int
    samples: int
    """Validation samples each configuration is scored on."""
    rank_noise: float
    sample_noise: float
    spread: float
    split_half_tau: float

    def as_attr(self) -> dict[str, float | int]:
        return asdict(self)

    def describe(self) -> str:
        ratio = self.spread / self.rank_noise if self.rank_noise > 0 else math.inf
        verdict = "above" if ratio > 1 else "NOT above"
        return (
            f"spread {100 * self.spread:.2f} points {verdict} rank noise "
            f"{100 * self.rank_noise:.2f} ({ratio:.1f}x; sampling noise "
            f"{100 * self.sample_noise:.2f}) on {self.samples} validation samples, "
            f"split-half tau {self.split_half_tau:.2f}"
        )


def rank_noise(correct: np.ndarray, *, seed: int = 0, resamples: int = RESAMPLES) -> RankNoise:
    """Noise and spread of the proxy accuracy of a population, from ``correct`` [configurations,
    samples]: whether each configuration classifies each validation sample correctly."""
    hits = np.asarray(correct, dtype=np.float64)
    count, samples = hits.shape
    if count == 0 or samples == 0:
        return RankNoise(count, samples, math.nan, math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    # A bootstrap resample as how often it draws each sample: one product for all of them.
    weights = rng.multinomial(samples, np.full(samples, 1.0 / samples), size=resamples)
    resampled = hits @ weights.T / samples  # [configurations, resamples]
    relative = resampled - resampled.mean(axis=0, keepdims=True)
    noise, sample_noise = (
        (float(r.std(axis=1, ddof=1).mean()) for r in (relative, resampled))
        if resamples > 1
        else (math.nan, math.nan)
    )
    spread = float(hits.mean(axis=1).std(ddof=1)) if count > 1 else math.nan
    halves = rng.permutation(samples)
    first, second = halves[: samples // 2], halves[samples // 2 :]
    tau = math.nan
    if count > 1 and len(first) and len(second):
        a, b = hits[:, first].mean(axis=1), hits[:, second].mean(axis=1)
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            tau = float(kendalltau(a, b).statistic)
    return RankNoise(count, samples, noise, sample_noise, spread, tau)
