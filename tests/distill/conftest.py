"""Fixtures of the distillation tests: a small digits slice and a briefly trained FP teacher.

Everything is tiny (vgg5 at width 0.25, a few hundred digits, one thread) so the whole suite runs
in seconds. The teacher is trained once per session; each test gets its own copy, since
distilling freezes it and evaluation may move it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from spikingjelly.activation_based import functional

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, student_from_teacher
from mdsnn_search.training_loop import TrainConfig, fit, seed_everything

WIDTH = 0.25
STUDENT_PRECISION = PrecisionConfig.uniform(2, 2, 8)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> DatasetBundle:
    return load_dataset(DataConfig(name="digits", timesteps=4, max_per_class=30))


@pytest.fixture(scope="session")
def batch(digits: DatasetBundle) -> tuple[torch.Tensor, torch.Tensor]:
    return next(iter(make_loader(digits.train, 32, shuffle=True, seed=1)))


@pytest.fixture(scope="session")
def make_net(digits: DatasetBundle) -> Callable[..., SpikingNetwork]:
    """``make_net(precision=None, arch="vgg5", seed=0)``: an untrained network for the digits."""

    def build(
        precision: PrecisionConfig | None = None, arch: str = "vgg5", seed: int = 0
    ) -> SpikingNetwork:
        torch.manual_seed(seed)
        config = ModelConfig(arch=arch, width=WIDTH, precision=precision or PrecisionConfig())
        return build_model(config, digits.input_shape, digits.num_classes)

    return build


def student_of(teacher: SpikingNetwork, precision: PrecisionConfig | None = None) -> SpikingNetwork:
    """A student converted from ``teacher`` at ``precision`` (32 bits if None), as a trial's."""
    config = teacher.config.model_copy(update={"precision": precision or PrecisionConfig()})
    return student_from_teacher(teacher, config)


@pytest.fixture(scope="session")
def _trained_teacher(
    digits: DatasetBundle, make_net: Callable[..., SpikingNetwork]
) -> SpikingNetwork:
    seed_everything(0)
    teacher = make_net()
    loader = make_loader(digits.train, 16, shuffle=True, seed=0)
    # ~93 % test accuracy in about a second (fewer epochs leave BN's running statistics unsettled).
    fit(teacher, loader, TrainConfig(epochs=3, lr=1e-2, device="cpu"), progress=False)
    functional.reset_net(
        teacher
    )  # drop the last batch's membrane state (graph attached: no deepcopy)
    return teacher


@pytest.fixture
def teacher(_trained_teacher: SpikingNetwork) -> SpikingNetwork:
    """A trained FP teacher, copied per test so freezing or moving it leaves the others alone."""
    return copy.deepcopy(_trained_teacher)
