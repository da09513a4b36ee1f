"""Graph models against the same networks in PyTorch (same weights): forward, the input
gradients and every parameter gradient, in training mode (BatchNorm on batch statistics) -- an
Inception block, a ResNet bottleneck with a strided projection shortcut, a DenseNet block, a small
U-Net, a Siamese model sharing one encoder, and a model with two inputs and two outputs. Each is
also built as a define-by-run Module (forward only) and must give the same numbers."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

pytestmark = pytest.mark.torch


def _copy(pairs, torch):
    """Copy each fastnn layer's parameters and buffers into its torch twin."""
    with torch.no_grad():
        for ours, theirs in pairs:
            for name, arr in ours.state_dict().items():
                getattr(theirs, name).copy_(torch.from_numpy(arr.copy()))


def _close(ours, theirs, what, scale=1.0):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    tol = 2e-5 * max(1.0, float(np.abs(theirs).max()), scale)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=tol, err_msg=what)


def _check(model, tmodel, pairs, inputs, torch, n_out=1):
    """Forward, backward with random output gradients, compare with torch."""
    _copy(pairs, torch)
    rng = np.random.default_rng(0)
    model.train()
    tmodel.train()
    outs = model(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert len(outs) == n_out
    tin = [torch.from_numpy(x.copy()).requires_grad_(True) for x in inputs]
    touts = tmodel(*tin)
    touts = touts if isinstance(touts, tuple) else (touts,)
    grads = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    for k, (o, t) in enumerate(zip(outs, touts)):
        _close(o, t, f"output {k}")
    model.zero_grad()
    tmodel.zero_grad()
    gin = model.backward(*grads)
    gin = gin if isinstance(gin, tuple) else (gin,)
    torch.autograd.backward(list(touts), [torch.from_numpy(g) for g in grads])
    for k, (g, t) in enumerate(zip(gin, tin)):
        _close(g, t.grad, f"input gradient {k}")
    for ours, theirs in pairs:
        # A bias just before a BatchNorm has a true gradient of 0 and gets rounding noise of the
        # size of its layer's other sums: the tolerance scales with the layer's largest gradient.
        scale = max(float(np.abs(getattr(theirs, n).grad.numpy()).max())
                    for n, _ in ours.named_parameters())
        for name, p in ours.named_parameters():
            _close(p.grad, getattr(theirs, name).grad, f"{type(ours).__name__}.{name}.grad",
                   scale=max(1.0, scale))
    return outs


def _conv_bn_relu(cin, cout, k, torch, stride=1):
    conv, bn = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.BatchNorm2d(cout)
    tconv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
    tbn = torch.nn.BatchNorm2d(cout)
    return (conv, bn), (tconv, tbn)


def test_inception_block(torch, rng):
    T = torch.nn
    b1, b2a, b2b, b4 = (nn.Conv2d(8, 4, 1), nn.Conv2d(8, 6, 1), nn.Conv2d(6, 8, 3, padding=1),
                        nn.Conv2d(8, 4, 1))
    pool, bn = nn.MaxPool2d(3, stride=1, padding=1), nn.BatchNorm2d(16)
    x = nn.Input((8, 9, 9))
    y = nn.Concat(1)(b1(x), b2b(nn.ReLU()(b2a(x))), b4(pool(x)))
    model = nn.Model(x, nn.ReLU()(bn(y)))
    t = [T.Conv2d(8, 4, 1), T.Conv2d(8, 6, 1), T.Conv2d(6, 8, 3, padding=1), T.Conv2d(8, 4, 1),
         T.BatchNorm2d(16)]

    class TInception(T.Module):
        def __init__(self):
            super().__init__()
            self.m = T.ModuleList(t)

        def forward(self, x):
            c1, c2a, c2b, c4, tbn = self.m
            y = torch.cat([c1(x), c2b(torch.relu(c2a(x))),
                           c4(torch.nn.functional.max_pool2d(x, 3, 1, 1))], 1)
            return torch.relu(tbn(y))

    pairs = list(zip([b1, b2a, b2b, b4, bn], t))
    xb = rng.standard_normal((3, 8, 9, 9)).astype(np.float32)
    _check(model, TInception(), pairs, [xb], torch)
    assert [type(m).__name__ for m in model.layers].count("Conv2d") == 4

    class Inception(nn.Module):  # define-by-run: forward only
        def __init__(self):
            super().__init__()
            self.b1, self.b2a, self.b2b, self.b4, self.pool, self.bn = b1, b2a, b2b, b4, pool, bn
            self.r1, self.r2 = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            y = fastnn.cat([self.b1(x), self.b2b(self.r1(self.b2a(x))), self.b4(self.pool(x))])
            return self.r2(self.bn(y))

    _check(Inception(), TInception(), pairs, [xb], torch)


def test_resnet_bottleneck_with_strided_projection(torch, rng):
    T = torch.nn
    (c1, n1), (tc1, tn1) = _conv_bn_relu(8, 4, 1, torch)
    (c2, n2), (tc2, tn2) = _conv_bn_relu(4, 4, 3, torch, stride=2)
    (c3, n3), (tc3, tn3) = _conv_bn_relu(4, 16, 1, torch)
    proj, pbn = nn.Conv2d(8, 16, 1, stride=2), nn.BatchNorm2d(16)
    tproj, tpbn = T.Conv2d(8, 16, 1, stride=2), T.BatchNorm2d(16)
    x = nn.Input((8, 10, 10))
    h = nn.ReLU()(n1(c1(x)))
    h = nn.ReLU()(n2(c2(h)))
    h = n3(c3(h))
    model = nn.Model(x, nn.ReLU()(h + pbn(proj(x))))
    assert model.output_shapes == [(None, 16, 5, 5)]

    class TBottleneck(T.Module):
        def __init__(self):
            super().__init__()
            self.m = T.ModuleList([tc1, tn1, tc2, tn2, tc3, tn3, tproj, tpbn])

        def forward(self, x):
            r = torch.relu
            h = tn3(tc3(r(tn2(tc2(r(tn1(tc1(x))))))))
            return r(h + tpbn(tproj(x)))

    pairs = [(c1, tc1), (n1, tn1), (c2, tc2), (n2, tn2), (c3, tc3), (n3, tn3), (proj, tproj),
             (pbn, tpbn)]
    _check(model, TBottleneck(), pairs, [rng.standard_normal((2, 8, 10, 10)).astype(np.float32)],
           torch)


def test_densenet_block(torch, rng):
    T = torch.nn
    growth, c0 = 4, 6
    ours, theirs = [], []
    x = nn.Input((c0, 7, 7))
    h = x
    for i in range(3):
        cin = c0 + i * growth
        bn, conv = nn.BatchNorm2d(cin), nn.Conv2d(cin, growth, 3, padding=1)
        ours += [bn, conv]
        theirs += [T.BatchNorm2d(cin), T.Conv2d(cin, growth, 3, padding=1)]
        h = nn.Concat(1)(h, conv(nn.ReLU()(bn(h))))
    model = nn.Model(x, h)
    assert model.output_shapes == [(None, c0 + 3 * growth, 7, 7)]

    class TDense(T.Module):
        def __init__(self):
            super().__init__()
            self.m = T.ModuleList(theirs)

        def forward(self, h):
            for i in range(3):
                h = torch.cat([h, theirs[2 * i + 1](torch.relu(theirs[2 * i](h)))], 1)
            return h

    _check(model, TDense(), list(zip(ours, theirs)),
           [rng.standard_normal((2, c0, 7, 7)).astype(np.float32)], torch)


def test_small_unet(torch, rng):
    T = torch.nn
    e1, e2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 8, 3, padding=1)
    up, d1, head = nn.ConvTranspose2d(8, 4, 2, stride=2), nn.Conv2d(8, 4, 3, padding=1), \
        nn.Conv2d(4, 1, 1)
    te1, te2 = T.Conv2d(2, 4, 3, padding=1), T.Conv2d(4, 8, 3, padding=1)
    tup, td1, thead = T.ConvTranspose2d(8, 4, 2, stride=2), T.Conv2d(8, 4, 3, padding=1), \
        T.Conv2d(4, 1, 1)
    x = nn.Input((2, 8, 8))
    s1 = nn.ReLU()(e1(x))
    bott = nn.ReLU()(e2(nn.MaxPool2d(2)(s1)))
    y = head(nn.ReLU()(d1(nn.Concat(1)(up(bott), s1))))
    model = nn.Model(x, y)

    class TUNet(T.Module):
        def __init__(self):
            super().__init__()
            self.m = T.ModuleList([te1, te2, tup, td1, thead])

        def forward(self, x):
            s1 = torch.relu(te1(x))
            b = torch.relu(te2(torch.nn.functional.max_pool2d(s1, 2)))
            return thead(torch.relu(td1(torch.cat([tup(b), s1], 1))))

    _check(model, TUNet(), [(e1, te1), (e2, te2), (up, tup), (d1, td1), (head, thead)],
           [rng.standard_normal((2, 2, 8, 8)).astype(np.float32)], torch)


def test_siamese_shared_encoder_two_inputs_two_outputs(torch, rng):
    T = torch.nn
    enc = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4))
    tenc = T.Sequential(T.Linear(6, 5), T.Tanh(), T.Linear(5, 4))
    head, thead = nn.Linear(8, 3), T.Linear(8, 3)
    a, b = nn.Input(6), nn.Input(6)
    ea, eb = enc(a), enc(b)  # one encoder, called twice: shared weights, gradients summed
    model = nn.Model([a, b], [head(nn.Concat(1)(ea, eb)), ea * eb])
    assert len(model.layers) == 4 and sum(p.size for p in model.parameters()) == \
        sum(p.size for p in enc.parameters()) + 27

    class TSiamese(T.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.head = tenc, thead

        def forward(self, a, b):
            ea, eb = tenc(a), tenc(b)
            return thead(torch.cat([ea, eb], 1)), ea * eb

    pairs = [(enc[0], tenc[0]), (enc[2], tenc[2]), (head, thead)]
    xa, xb = (rng.standard_normal((5, 6)).astype(np.float32) for _ in range(2))
    _check(model, TSiamese(), pairs, [xa, xb], torch, n_out=2)

    class Siamese(nn.Module):  # define-by-run, the same two calls of one encoder
        def __init__(self):
            super().__init__()
            self.enc, self.head = enc, head

        def forward(self, a, b):
            ea, eb = self.enc(a), self.enc(b)
            return self.head(fastnn.cat([ea, eb])), fastnn.mul(ea, eb)

    _check(Siamese(), TSiamese(), pairs, [xa, xb], torch, n_out=2)


def test_fit_branched_cnn_reaches_pytorch_accuracy(torch):
    """The same branched CNN (1x1 and 3x3 branches concatenated), same initial weights, same
    batches and SGD: fastnn's fit and a PyTorch loop reach the same test accuracy on digits."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    xtr, ytr, xte, yte = x[:1400], y[:1400], x[1400:], y[1400:]
    fastnn.manual_seed(0)
    c1, c3, head = nn.Conv2d(1, 8, 1), nn.Conv2d(1, 8, 3, padding=1), nn.Linear(256, 10)
    inp = nn.Input((1, 8, 8))
    h = nn.Concat(1)(nn.ReLU()(c1(inp)), nn.ReLU()(c3(inp)))
    model = nn.Model(inp, head(nn.Flatten()(nn.MaxPool2d(2)(h))))
    T = torch.nn
    t1, t3, thead = T.Conv2d(1, 8, 1), T.Conv2d(1, 8, 3, padding=1), T.Linear(256, 10)
    _copy([(c1, t1), (c3, t3), (head, thead)], torch)

    def tforward(v):
        r = torch.relu
        hh = torch.cat([r(t1(v)), r(t3(v))], 1)
        return thead(torch.flatten(torch.nn.functional.max_pool2d(hh, 2), 1))

    epochs, bs, lr = 6, 32, 0.05
    opt = fastnn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, xtr, ytr, batch_size=bs, epochs=epochs,
               shuffle=False, verbose=0)
    topt = torch.optim.SGD(list(t1.parameters()) + list(t3.parameters())
                           + list(thead.parameters()), lr=lr, momentum=0.9)
    for _ in range(epochs):
        for i in range(0, len(xtr), bs):
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tforward(torch.from_numpy(xtr[i:i + bs])),
                                                     torch.from_numpy(ytr[i:i + bs]))
            loss.backward()
            topt.step()
    ours = (fastnn.predict(model, xte).argmax(1) == yte).mean()
    with torch.no_grad():
        theirs = (tforward(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    assert abs(ours - theirs) <= 0.02 and ours > 0.85, (ours, theirs)  # measured: 0.884 both
