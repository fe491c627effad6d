"""``quantize_`` on networks built elsewhere (spikingjelly's own layers), and every registered
architecture through the one build path: full precision, then converted."""

from __future__ import annotations

import copy

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import LayerPrecisionOverride, PrecisionConfig
from mdsnn_search.snn import (
    MODELS,
    ModelConfig,
    build_fp_model,
    build_model,
    layer_table,
    quantize_,
    student_from_teacher,
)
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.models.external import ExternalNetwork
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.quantizers import BiasQuantizer, MembraneQuantizer, WeightQuantizer
from mdsnn_search.training_loop import TrainConfig, evaluate, fit, seed_everything


class Block(nn.Module):
    """conv-BN-LIF with its own forward (not a Sequential), as papers' repositories write it."""

    def __init__(self, c_in: int, c_out: int, step_mode: str, **lif: object) -> None:
        super().__init__()
        self.conv = layer.Conv2d(c_in, c_out, 3, padding=1, bias=True, step_mode=step_mode)
        self.bn = layer.BatchNorm2d(c_out, step_mode=step_mode)
        self.lif = neuron.LIFNode(step_mode=step_mode, **lif)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.bn(self.conv(x)))


class TinySNN(nn.Module):
    """A user's spikingjelly network: two blocks (one hard-reset ATan neuron), pooling, a linear
    head; multi-step by default, [T, B, C, H, W] in, [T, B, classes] out."""

    def __init__(
        self, input_shape: tuple[int, int, int], num_classes: int, step_mode: str = "m"
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        self.block1 = Block(c, 8, step_mode)
        self.block2 = Block(
            8, 16, step_mode, tau=3.0, v_reset=0.0, surrogate_function=surrogate.ATan()
        )
        self.pool = layer.MaxPool2d(2, step_mode=step_mode)
        self.flatten = layer.Flatten(step_mode=step_mode)
        self.head = layer.Linear(16 * (h // 2) * (w // 2), num_classes, step_mode=step_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.pool(self.block2(self.block1(x)))))


def tiny_snn(input_shape: tuple[int, int, int], num_classes: int) -> TinySNN:
    """The factory a spec names as ``test_snn_quantize:tiny_snn``."""
    return TinySNN(input_shape, num_classes)


FACTORY = ModelConfig(factory=f"{__name__}:tiny_snn")
SHAPE = (1, 8, 8)


def _with_statistics(net: nn.Module) -> nn.Module:
    """Batch norms with running statistics and affine weights away from their initial values."""
    torch.manual_seed(1)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net


def _run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    functional.reset_net(net)
    with torch.no_grad():
        return net(x)


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset(DataConfig(name="digits", timesteps=4, max_per_class=60))


def test_a_spikingjelly_network_at_32_bits_computes_what_it_computed() -> None:
    torch.manual_seed(0)
    original = _with_statistics(TinySNN(SHAPE, 10)).eval()
    x = (torch.rand(4, 8, *SHAPE) * 3).round()  # graded input: many neurons fire, some not
    expected = _run(original, x)
    converted = quantize_(copy.deepcopy(original), example_input=x[:1, :1])
    assert torch.equal(_run(converted, x), expected)
    assert isinstance(converted.block1.conv, QuantConvBN2d)
    assert isinstance(converted.block1.bn, nn.Identity)
    assert isinstance(converted.head, QuantLinear)
    lif = converted.block2.lif
    assert isinstance(lif, QuantLIFNode) and (lif.tau, lif.v_reset) == (3.0, 0.0)
    assert type(lif.surrogate_function) is surrogate.ATan
    # in training mode too (batch statistics), and the running statistics move alike
    original.train(), converted.train()
    assert torch.equal(_run(converted, x), _run(original, x))
    assert torch.equal(converted.block1.conv.bn.running_mean, original.block1.bn.running_mean)


def test_single_step_mode_is_kept_and_reset_net_resets_the_new_neurons() -> None:
    torch.manual_seed(0)
    original = _with_statistics(TinySNN(SHAPE, 10, step_mode="s")).eval()
    x = (torch.rand(3, 2, *SHAPE) * 3).round()
    functional.reset_net(original)  # spikingjelly caches the resettable modules of this net
    with torch.no_grad():
        expected = torch.stack([original(x_t) for x_t in x])
    converted = quantize_(original, example_input=x[0])  # in place
    assert converted.block1.conv.step_mode == "s" and converted.block1.lif.step_mode == "s"
    functional.reset_net(converted)
    with torch.no_grad():
        got = torch.stack([converted(x_t) for x_t in x])
        assert torch.equal(got, expected)
        functional.reset_net(converted)  # the converted neurons, not the cached old ones
    assert all(
        float(node.v) == 0.0 for node in converted.modules() if isinstance(node, QuantLIFNode)
    )
    functional.set_step_mode(converted, "m")
    assert torch.equal(_run(converted, x), expected)


def test_precision_addresses_layers_by_name_pattern_and_default() -> None:
    precision = PrecisionConfig(
        default={"w_bits": 8, "u_bits": 8, "bn_bits": 8},
        layers={
            "block*.conv": LayerPrecisionOverride(w_bits=4),
            "block2.conv": LayerPrecisionOverride(u_bits=2, bn_bits=32),
            "head": LayerPrecisionOverride(w_bits=32),
        },
    )
    net = quantize_(TinySNN(SHAPE, 10), precision, example_input=torch.zeros(1, 1, *SHAPE))
    conv1, conv2 = net.block1.conv, net.block2.conv
    assert conv1.weight_quantizer.bits == 4 and isinstance(conv1.bn_quantizer, BiasQuantizer)
    assert conv2.weight_quantizer.bits == 4 and conv2.bn_quantizer is None
    assert net.head.weight_quantizer is None
    assert net.block1.lif.membrane_quantizer.bits == 8
    assert net.block2.lif.membrane_quantizer.bits == 2
    # freshly converted quantizers fit their range on the first forward
    assert not any(bool(q.initialized) for q in net.modules() if isinstance(q, WeightQuantizer))
    # the cost model's layer table reads any converted network
    table = layer_table(net, torch.zeros(1, 1, *SHAPE))
    assert [(row.name, row.spiking, row.pool) for row in table] == [
        ("block1.conv", True, None),
        ("block2.conv", True, 2),
        ("head", False, None),
    ]
    with pytest.raises(ConfigError, match=r"precision.layers: 'block9\*' matches no layer"):
        quantize_(net, PrecisionConfig(layers={"block9*": LayerPrecisionOverride(w_bits=2)}))


class Unconvertible(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = layer.Conv2d(1, 4, 3, padding=1, step_mode="m")
        self.if_node = neuron.IFNode(step_mode="m")
        self.norm = layer.BatchNorm1d(4, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.if_node(self.conv(x)).mean((3, 4)))


def test_what_cannot_be_converted_is_named_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        quantize_(Unconvertible(), example_input=torch.zeros(1, 2, *SHAPE))
    message = str(caught.value)
    assert "\n" not in message
    assert "if_node (spikingjelly.activation_based.neuron" in message
    assert "only LIFNode neurons" in message
    assert "norm (spikingjelly.activation_based.layer.bn.BatchNorm1d): only Conv2d" in message
    assert "conv (Conv2d): not followed by a BatchNorm2d" in message
    with pytest.raises(ConfigError, match="pass example_input"):
        quantize_(Unconvertible())


@pytest.mark.parametrize("arch", MODELS.names())
def test_every_registered_architecture_round_trips_through_the_one_path(arch: str) -> None:
    """Teacher = build at full precision, then convert; a student converted from it is the network
    ``build_model`` makes of its config: same layer table, same tensors, same outputs."""
    shape = (2, 32, 32)
    teacher_config = ModelConfig(arch=arch, width=0.125)
    torch.manual_seed(0)
    fp = build_fp_model(teacher_config, shape, 10)
    assert not any(isinstance(m, (WeightQuantizer, MembraneQuantizer)) for m in fp.modules())
    teacher = build_model(teacher_config, shape, 10).eval()
    student_config = teacher_config.model_copy(
        update={"precision": PrecisionConfig.uniform(4, 4, 8)}
    )
    student = student_from_teacher(teacher, student_config).eval()
    built = build_model(student_config, shape, 10).eval()
    assert layer_table(student) == layer_table(built) == layer_table(teacher) == layer_table(fp)
    x = (torch.rand(2, 2, *shape) > 0.7).float()
    student_out = _run(student, x)  # fits the student's quantizers
    built.load_state_dict(student.state_dict())
    assert torch.equal(_run(built, x), student_out)


def test_a_factory_network_trains_and_its_w8u8_student_keeps_its_accuracy(
    digits: DatasetBundle,
) -> None:
    """The tolerance of tests/test_ptq.py: a W8/U8 student starts within 1 point of its teacher."""
    seed_everything(0)
    teacher = build_model(FACTORY, digits.input_shape, digits.num_classes)
    assert isinstance(teacher, ExternalNetwork) and list(teacher.neurons()) == [
        "block1.conv",
        "block2.conv",
    ]
    loader = make_loader(digits.train, 16, shuffle=True, seed=0)
    fit(teacher, loader, TrainConfig(epochs=4, lr=3e-3, device="cpu"), progress=False)
    test = make_loader(digits.test, 256, shuffle=False)
    accuracy = evaluate(teacher, test).accuracy
    assert accuracy >= 0.9
    student = student_from_teacher(
        teacher, FACTORY.model_copy(update={"precision": PrecisionConfig.uniform(8, 8, 8)})
    )
    assert evaluate(student, test).accuracy >= accuracy - 0.01
    assert [row.name for row in layer_table(student)] == ["block1.conv", "block2.conv", "head"]
    assert [row.pool for row in layer_table(student)] == [None, 2, None]


def test_factory_mistakes_name_the_field() -> None:
    with pytest.raises(ConfigError, match="model.factory: cannot import 'no_such_module'"):
        build_model(ModelConfig(factory="no_such_module:f"), SHAPE, 10)
    with pytest.raises(ConfigError, match="has no function 'nothing'"):
        build_model(ModelConfig(factory=f"{__name__}:nothing"), SHAPE, 10)
    with pytest.raises(ConfigError, match=r"raised TypeError"):
        build_model(FACTORY.model_copy(update={"kwargs": {"depth": 3}}), SHAPE, 10)
    with pytest.raises(ConfigError, match=r"model.factory: .*cannot convert .*IFNode"):
        build_model(ModelConfig(factory=f"{__name__}:unconvertible"), SHAPE, 10)
    with pytest.raises(ValueError, match="either arch .* or factory"):
        ModelConfig(arch="vgg5", factory=f"{__name__}:tiny_snn")
    with pytest.raises(ValueError, match="String should match pattern"):
        ModelConfig(factory="tiny_snn")


def unconvertible(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return Unconvertible()
