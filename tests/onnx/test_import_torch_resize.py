"""PyTorch -> ONNX (TorchScript exporter, opsets 11 and 17) -> fastnn.onnx.load for the
architectures that need Resize and DepthToSpace, plus a MobileNet-style block: a two-level U-Net
with both up paths (ConvTranspose2d and a bilinear nn.Upsample) and a nearest Upsample, a
MobileNet block (strided conv, depthwise conv, BN, ReLU6, pointwise conv, global average pooling,
Linear, Softmax) and an ESPCN super-resolution net (conv -> conv -> PixelShuffle(3)). Eval outputs
at two batch sizes, train-mode outputs, running statistics and input gradients equal PyTorch's."""
import numpy as np
import pytest

import fastnn
from tests.onnx.compare import against_torch
from tests.onnx.test_import_torch import imported

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _models(torch):
    tnn, F = torch.nn, torch.nn.functional

    def block(cin, cout):
        return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1), tnn.BatchNorm2d(cout),
                              tnn.ReLU())

    class UNetUpsample(tnn.Module):
        """Two levels (12 -> 6 -> 3); up by ConvTranspose2d at the inner level and by bilinear
        Upsample (align_corners False) at the outer one, the skips concatenated; a nearest
        Upsample x2 and an align_corners bilinear resize to an explicit size on a side path."""

        def __init__(self):
            super().__init__()
            self.enc1, self.enc2, self.mid = block(3, 4), block(4, 8), block(8, 8)
            self.down = tnn.MaxPool2d(2)
            self.up2 = tnn.ConvTranspose2d(8, 8, 2, stride=2)
            self.dec2 = block(16, 8)
            self.up1 = tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec1 = block(12, 4)
            self.side = tnn.Sequential(tnn.Upsample(scale_factor=2, mode="nearest"),
                                       tnn.Conv2d(8, 2, 1),
                                       tnn.Upsample(size=(12, 12), mode="bilinear",
                                                    align_corners=True))
            self.head = tnn.Conv2d(6, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)                      # 12
            e2 = self.enc2(self.down(e1))          # 6
            m = self.mid(self.down(e2))            # 3
            d2 = self.dec2(torch.cat([e2, self.up2(m)], 1))     # 6
            d1 = self.dec1(torch.cat([e1, self.up1(d2)], 1))    # 12
            return self.head(torch.cat([d1, self.side(m)], 1))  # side: 3 -> 6 -> 12

    class MobileNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(3, 8, 3, 2, 1, bias=False), tnn.BatchNorm2d(8),
                                       tnn.ReLU6())
            self.dw = tnn.Sequential(tnn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False),
                                     tnn.BatchNorm2d(8), tnn.ReLU6())
            self.pw = tnn.Sequential(tnn.Conv2d(8, 16, 1, bias=False), tnn.BatchNorm2d(16),
                                     tnn.ReLU6())
            self.dw2 = tnn.Sequential(tnn.Conv2d(16, 16, 3, 2, 1, groups=16, bias=False),
                                      tnn.BatchNorm2d(16), tnn.ReLU6())
            self.fc = tnn.Linear(16, 5)

        def forward(self, x):
            y = self.dw2(self.pw(self.dw(self.stem(x))))
            return F.softmax(self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)), dim=1)

    class ESPCN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = tnn.Conv2d(1, 8, 5, padding=2)
            self.c2 = tnn.Conv2d(8, 9, 3, padding=1)
            self.shuffle = tnn.PixelShuffle(3)

        def forward(self, x):
            return self.shuffle(self.c2(torch.tanh(self.c1(x))))

    return {"unet_upsample": (UNetUpsample, (3, 12, 12)), "mobilenet": (MobileNet, (3, 15, 15)),
            "espcn": (ESPCN, (1, 7, 5))}


LAYERS = {"unet_upsample": {fastnn.nn.Upsample: 3, fastnn.nn.ConvTranspose2d: 1},
          "mobilenet": {fastnn.nn.ReLU6: 4, fastnn.nn.Softmax: 1},
          "espcn": {fastnn.nn.PixelShuffle: 1}}


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", ["unet_upsample", "mobilenet", "espcn"])
def test_torch_model_imports(torch, onnx, name, opset, rng):
    cls, shape = _models(torch)[name]
    net, model = imported(torch, cls, shape, opset)
    for t, count in LAYERS[name].items():
        assert sum(type(m) is t for m in model.modules()) == count, (name, t)
    against_torch(torch, net, model, shape, rng, name)
