"""PyTorch -> torch.onnx.export (TorchScript exporter, opsets 11 and 17) -> fastnn.onnx.load:
eval outputs equal at two batch sizes; train-mode outputs (batch statistics) and input gradients
equal to PyTorch's. Exported in TRAINING mode (BatchNormalization and Dropout nodes kept); the train-mode comparison
sets fastnn's and PyTorch's Dropout layers to eval (their masks are random)."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import onnx as fonnx
from tests.onnx.compare import against_torch, close

# the TorchScript exporter's deprecation notice and its notes on removed in-place BN counters
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _models(torch):
    tnn, F = torch.nn, torch.nn.functional

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = tnn.Linear(20, 32), tnn.Linear(32, 16), tnn.Linear(16, 5)

        def forward(self, x):
            return self.c(torch.tanh(self.b(F.leaky_relu(self.a(x), 0.1))))

    class LeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn1 = tnn.Conv2d(1, 6, 5, padding=2), tnn.BatchNorm2d(6)
            self.c2, self.bn2 = tnn.Conv2d(6, 16, 5), tnn.BatchNorm2d(16)
            self.fc1, self.bn3 = tnn.Linear(16 * 5 * 5, 32), tnn.BatchNorm1d(32)
            self.drop, self.fc2 = tnn.Dropout(0.3), tnn.Linear(32, 10)

        def forward(self, x):
            x = F.avg_pool2d(F.elu(self.bn1(self.c1(x))), 2)
            x = F.max_pool2d(F.elu(self.bn2(self.c2(x))), 2)
            x = self.drop(F.elu(self.bn3(self.fc1(x.view(x.size(0), -1)))))
            return F.softmax(self.fc2(x), dim=1)

    class Inception(tnn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = tnn.Conv2d(4, 8, 1)
            self.b2 = tnn.Sequential(tnn.Conv2d(4, 6, 1), tnn.ReLU(), tnn.Conv2d(6, 8, 3, padding=1))
            self.b3 = tnn.Sequential(tnn.Conv2d(4, 2, 1), tnn.ReLU(),
                                     tnn.Conv2d(2, 4, 5, padding=2))
            self.b4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1), tnn.Conv2d(4, 4, 1))
            self.bn = tnn.BatchNorm2d(24)

        def forward(self, x):
            y = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
            return torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn(y)), 1), 1)

    class Bottleneck(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.n1 = tnn.Conv2d(8, 4, 1, bias=False), tnn.BatchNorm2d(4)
            self.c2, self.n2 = tnn.Conv2d(4, 4, 3, 2, 1, bias=False, groups=2), tnn.BatchNorm2d(4)
            self.c3, self.n3 = tnn.Conv2d(4, 16, 1, bias=False), tnn.BatchNorm2d(16)
            self.down = tnn.Sequential(tnn.Conv2d(8, 16, 1, 2, bias=False), tnn.BatchNorm2d(16))

        def forward(self, x):
            y = F.relu(self.n1(self.c1(x)))
            y = F.relu(self.n2(self.c2(y)))
            return F.relu(self.n3(self.c3(y)) + self.down(x))

    class Dense(tnn.Module):
        def __init__(self):
            super().__init__()
            self.layers = tnn.ModuleList(
                tnn.Sequential(tnn.BatchNorm2d(4 + 3 * i), tnn.ReLU(),
                               tnn.Conv2d(4 + 3 * i, 3, 3, padding=1, dilation=1))
                for i in range(3))
            self.trans = tnn.Sequential(tnn.BatchNorm2d(13), tnn.ReLU(), tnn.Conv2d(13, 6, 1),
                                        tnn.AvgPool2d(2))

        def forward(self, x):
            for layer in self.layers:
                x = torch.cat([x, layer(x)], 1)
            return self.trans(x)

    class UNet(tnn.Module):
        """Two levels: MaxPool down (ceil_mode on an odd size), ConvTranspose2d up, the skip
        concatenated; AvgPool with count_include_pad=False at the end."""

        def __init__(self):
            super().__init__()
            self.enc = tnn.Sequential(tnn.Conv2d(2, 6, 3, padding=1), tnn.BatchNorm2d(6),
                                      tnn.ReLU())
            self.down = tnn.MaxPool2d(2, ceil_mode=True)
            self.mid = tnn.Sequential(tnn.Conv2d(6, 8, 3, padding=1), tnn.ReLU())
            self.up = tnn.ConvTranspose2d(8, 6, 3, stride=2, padding=1)
            self.dec = tnn.Sequential(tnn.Conv2d(12, 4, 3, padding=1), tnn.ReLU(),
                                      tnn.AvgPool2d(3, 2, 1, count_include_pad=False))

        def forward(self, x):
            e = self.enc(x)
            u = self.up(self.mid(self.down(e)))  # 9 -> 5 -> 9
            return self.dec(torch.cat([e, u], 1))

    return {"mlp": (MLP, (20,)), "lenet": (LeNet, (1, 28, 28)), "unet": (UNet, (2, 9, 9)),
            "inception": (Inception, (4, 10, 10)), "bottleneck": (Bottleneck, (8, 8, 8)),
            "densenet": (Dense, (4, 8, 8))}


def _export(torch, net, shape, opset):
    buf = io.BytesIO()
    # TRAINING: keeps BatchNormalization and Dropout nodes (an eval-mode export folds BN into
    # the convolutions before it, leaving nothing to train)
    torch.onnx.export(net.train(), torch.randn(2, *shape), buf, opset_version=opset, dynamo=False,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return buf.getvalue()


def _randomize_bn(torch, net, seed):
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def imported(torch, cls, shape, opset):
    """(a seeded PyTorch net of class cls with random BN statistics, its fastnn import)."""
    torch.manual_seed(0)
    net = cls()
    _randomize_bn(torch, net, 1)
    model = fonnx.load(_export(torch, net, shape, opset))
    assert isinstance(model, fastnn.nn.Model)
    assert sum(p.size for p in model.parameters()) == sum(p.numel() for p in net.parameters())
    return net, model


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", ["mlp", "lenet", "inception", "bottleneck", "densenet", "unet"])
def test_torch_model_imports(torch, onnx, name, opset, rng):
    cls, shape = _models(torch)[name]
    net, model = imported(torch, cls, shape, opset)
    assert any(isinstance(m, fastnn.nn.Dropout) for m in model.modules()) == (name == "lenet")
    against_torch(torch, net, model, shape, rng, name)


def test_eval_mode_export_imports(torch, onnx, rng):
    # The default (eval) export folds BatchNorm into the convolutions and drops Dropout; the
    # view(x.size(0), -1) becomes Shape/Gather/Unsqueeze/Concat/Reshape, folded at import.
    torch.manual_seed(0)
    cls, shape = _models(torch)["lenet"]
    net = cls().eval()
    _randomize_bn(torch, net, 2)
    check_eval_export(torch, net, shape, rng)


def check_eval_export(torch, net, shape, rng):
    """net (in eval mode) exported with torch.onnx's defaults at opsets 11 and 17 imports equal."""
    for opset in (11, 17):
        buf = io.BytesIO()
        torch.onnx.export(net, torch.randn(2, *shape), buf, opset_version=opset, dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "n"}})
        model = fonnx.load(buf.getvalue()).eval()
        x = rng.standard_normal((3,) + shape).astype(np.float32)
        close(model(x), net(torch.tensor(x)).detach().numpy(), f"eval export, opset {opset}")


def test_gelu_written_with_erf_imports(torch, onnx, rng):
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    model = fonnx.load(_export(torch, net, (6,), 17))
    assert any(isinstance(m, fastnn.nn.GELU) for m in model.modules())
    x = rng.standard_normal((4, 6)).astype(np.float32)
    close(model.eval()(x), net.eval()(torch.tensor(x)).detach().numpy(), "gelu")
