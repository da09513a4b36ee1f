"""Deep Compression on MNIST (fastnn.compress): prune + share + entropy-code, and low-rank.

    python bench/compare.py compress [--epochs 6] [--prune-epochs 8] [--tune-epochs 3] [--sparsity 0.94]
                                     [--lenet5-train 20000] [--democnn-train 20000]
                                     [--only lenet300,lenet5,lowrank,democnn]

lenet300  784-300-100-10: dense training, GradualPruning to --sparsity (fine-tuning), 32 clusters
          (5 bits) + --tune-epochs fine-tune with sharing; file vs fastnn.save of the dense model.
lenet5    Caffe LeNet-5 (conv 20 5x5, pool, conv 50 5x5, pool, fc 500, fc 10), same pipeline on
          the first --lenet5-train images (2-core budget).
lowrank   low_rank(energy=0.9) of the trained (dense) LeNet-300-100's Linear layers: parameters,
          accuracy and eval speed at batch 1 and 256 against the unfactorised model, interleaved.
democnn   the demo's MNIST CNN (fastnn/__main__.py): the same Deep Compression pipeline on the
          first --democnn-train images, and low_rank(energy=0.9) of its Linear layers (dense,
          trained): parameters, accuracy, speed at batch 1 and 256 against the unfactorised model.
"""
import argparse
import copy
import os
import tempfile
import time

import numpy as np

import fastnn
from fastnn import nn, optim
from fastnn.compress import cluster_weights, low_rank, save_compressed
from fastnn.prune import GradualPruning
from prune_models import accuracy, data_path, load
from timing import table, time_interleaved


def lenet300():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(),
                         nn.Linear(500, 10))


def fit(model, x, y, epochs, lr, callbacks=()):
    opt = optim.Adam(model.parameters(), lr=lr)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=128, epochs=epochs,
               callbacks=list(callbacks), verbose=0, seed=0)


CODECS = []


def deep_compress(name, make, x, y, xte, yte, args, rows):
    t0 = time.perf_counter()
    fastnn.manual_seed(0)
    model = make()
    fit(model, x, y, args.epochs, 1e-3)
    acc0 = accuracy(model, xte, yte)
    dense_model = copy.deepcopy(model)
    with tempfile.TemporaryDirectory() as d:
        fastnn.save(model, os.path.join(d, "dense"))
        dense_size = os.path.getsize(os.path.join(d, "dense"))
        gp = GradualPruning(args.sparsity, 0, max(args.prune_epochs - 1, 0))
        fit(model, x, y, args.prune_epochs + 1, 5e-4, [gp])
        acc_p = accuracy(model, xte, yte)
        for k in (args.clusters,):
            cluster_weights(model, k, init="linear")
            acc_c0 = accuracy(model, xte, yte)
            fit(model, x, y, args.tune_epochs, 1e-4)
            acc_c = accuracy(model, xte, yte)
            size = save_compressed(model, os.path.join(d, "c.fndc"))
            back = fastnn.load(os.path.join(d, "c.fndc"))
            model.eval()
            back.eval()
            same = np.array_equal(back(xte[:256]), model(xte[:256]))
            total, sizes = codec_sizes(model)
            CODECS.append((name, total, sizes))
            rows.append([name, f"{acc0 * 100:.2f}", f"{acc_p * 100:.2f}", k,
                         f"{acc_c0 * 100:.2f}", f"{acc_c * 100:.2f}", dense_size, size,
                         f"{dense_size / size:.1f}x", f"{(acc0 - acc_c) * 100:+.2f}",
                         "yes" if same else "NO", f"{time.perf_counter() - t0:.0f}"])
    return dense_model


def codec_sizes(model):
    """Bytes of the model's compressed streams under each coder: raw, lzma (preset 9e),
    canonical Huffman (symbol streams), zstd level 22 (when the zstandard package is installed;
    not a dependency of fastnn), and the file's choice (the smallest of raw/lzma/Huffman)."""
    from fastnn.compress import _file, _huffman
    import lzma
    streams = []
    orig = _file._Writer.stream

    def spy(self, data, symbols=None, alphabet=None):
        streams.append((data, symbols, alphabet))
        return orig(self, data, symbols, alphabet)

    _file._Writer.stream = spy
    try:
        with tempfile.TemporaryDirectory() as d:
            total = save_compressed(model, os.path.join(d, "c.fndc"))
    finally:
        _file._Writer.stream = orig
    try:
        import zstandard
        zc = zstandard.ZstdCompressor(level=22)
    except ImportError:
        zc = None
    sizes = {"raw": 0, "lzma": 0, "huffman (symbol streams)": 0, "zstd 22": 0,
             "file's choice": 0, "with zstd as a 4th choice": 0}
    for data, symbols, alphabet in streams:
        cand = {"raw": len(data), "lzma": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))}
        if symbols is not None:
            cand["huffman (symbol streams)"] = len(_huffman.encode(symbols, alphabet))
        if zc is not None:
            cand["zstd 22"] = len(zc.compress(data))
        best = min(v for k, v in cand.items() if k != "zstd 22")
        cand.setdefault("huffman (symbol streams)", min(cand["raw"], cand["lzma"]))  # not codable
        for k, v in cand.items():
            sizes[k] += v
        sizes["file's choice"] += best
        sizes["with zstd as a 4th choice"] += min(cand.values())
    if zc is None:
        sizes["zstd 22"] = sizes["with zstd as a 4th choice"] = None
    return total, sizes


def lowrank_rows(model, xte, args):
    """low_rank(energy=0.9) of the Linear layers of the trained dense ``model``."""
    dense = copy.deepcopy(model)
    linears = [n for n, m in dense.named_modules() if type(m) is nn.Linear]
    small, rep = low_rank(dense, energy=0.9, layers=linears)
    params = lambda m: sum(p.data.size for _, p in m.named_parameters())  # noqa: E731
    out = [[n, r["rank"], f"{r['energy']:.3f}", r["macs_before"], r["macs_after"],
            "yes" if r["replaced"] else "no"] for n, r in rep.items()]
    speed = []
    dense.eval()
    small.eval()
    for b in (1, 256):
        xb = np.ascontiguousarray(xte[:b])
        med, best = time_interleaved([lambda: dense(xb), lambda: small(xb)], rounds=args.rounds,
                                     min_time=0.2)
        speed.append([b, f"{med[0] * 1e6:.1f}", f"{med[1] * 1e6:.1f}",
                      f"{med[0] / med[1]:.2f}x ({best[0] / best[1]:.2f}x)"])
    return (out, speed, params(dense), params(small), accuracy(dense, xte, args.yte),
            accuracy(small, xte, args.yte))


def spatial_pair(conv, energy):
    """The spatial separable factorisation of a k x k conv (Jaderberg et al. 2014): a k x 1 conv
    C -> r then a 1 x k conv r -> D, from the SVD of W arranged as (C*k_h, D*k_w). For the
    measurement of the choice low_rank makes (channel pair); not part of fastnn.compress."""
    w = conv.weight.data.astype(np.float64)  # (D, C, kh, kw)
    d, c, kh, kw = w.shape
    m = w.transpose(1, 2, 0, 3).reshape(c * kh, d * kw)
    u, sv, vt = np.linalg.svd(m, full_matrices=False)
    e = np.cumsum(sv ** 2) / np.sum(sv ** 2)
    r = int(np.searchsorted(e, energy - 1e-12) + 1)
    a = (u[:, :r] * np.sqrt(sv[:r])).reshape(c, kh, r).transpose(2, 0, 1)[..., None]  # r,C,kh,1
    b = (np.sqrt(sv[:r])[:, None] * vt[:r]).reshape(r, d, kw).transpose(1, 0, 2)[:, :, None, :]
    first = nn.Conv2d(c, r, (kh, 1), stride=(conv.stride[0], 1), padding=(conv.padding[0], 0),
                      bias=False)
    second = nn.Conv2d(r, d, (1, kw), stride=(1, conv.stride[1]), padding=(0, conv.padding[1]),
                       bias=conv.bias is not None)
    first.weight.data[...] = a
    second.weight.data[...] = b
    if conv.bias is not None:
        second.bias.data[...] = conv.bias.data
    return nn.Sequential(first, second), r, float(e[r - 1]), r * kh * c + d * r * kw


def conv_choice(cnn, xte, args):
    """The demo CNN's second conv (32 -> 64, 3 x 3, 14 x 14) factorised both ways at energy 0.9:
    rank, MACs per output position, relative output error on real activations, the model's
    accuracy with it, and the layer's time at batch 256 against the original, interleaved."""
    conv_name, conv = [(n, m) for n, m in cnn.named_modules() if type(m) is nn.Conv2d][1]
    cnn.eval()
    head = nn.Sequential(*list(cnn)[:int(conv_name)])
    a = head(xte[:256])
    want = conv(a)
    chan, rep = low_rank(nn.Sequential(conv), energy=0.9)
    chan = chan[0]
    r = rep["0"]
    spat, rs, es, macs_s = spatial_pair(conv, 0.9)
    rows = []
    for label, layer, rank, en, macs in (
            ("channel pair (low_rank)", chan, r["rank"], r["energy"], r["macs_after"]),
            ("spatial pair k x 1, 1 x k", spat, rs, es, macs_s)):
        layer.eval()
        err = float(np.abs(layer(a) - want).max() / np.abs(want).max())
        model = copy.deepcopy(cnn)
        setattr(model, conv_name, copy.deepcopy(layer))
        acc = accuracy(model, xte, args.yte)
        med, best = time_interleaved([lambda: conv(a), lambda: layer(a)], rounds=args.rounds,
                                     min_time=0.2)
        rows.append([label, rank, f"{en:.3f}", r["macs_before"], macs, f"{err:.3f}",
                     f"{acc * 100:.2f}", f"{med[0] / med[1]:.2f}x ({best[0] / best[1]:.2f}x)"])
    print(f"\n== conv factorisation choice: the demo CNN's layer {conv_name} "
          f"({conv.in_channels}->{conv.out_channels}, 3x3, 14x14), energy 0.9, batch 256; "
          f"model accuracy unfactorised {accuracy(cnn, xte, args.yte) * 100:.2f}")
    print(table(["factorisation", "rank", "energy", "MACs before", "MACs after", "rel. max err",
                 "model acc", "speed-up median (best)"], rows))


def print_lowrank(name, model, xte, args):
    layers, speed, p0, p1, acc0, acc = lowrank_rows(model, xte, args)
    print(f"\n== low_rank(energy=0.9) of {name}'s Linear layers (dense, trained; no fine-tuning): "
          f"params {p0} -> {p1} ({p0 / p1:.2f}x fewer), accuracy {acc0 * 100:.2f} -> "
          f"{acc * 100:.2f}")
    print(table(["layer", "rank", "energy", "MACs before", "MACs after", "replaced"], layers))
    print(table(["batch", "dense us", "low-rank us", "speed-up median (best)"], speed))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py compress")
    ap.add_argument("--data", default=None)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--prune-epochs", type=int, default=8)
    ap.add_argument("--tune-epochs", type=int, default=3)
    ap.add_argument("--sparsity", type=float, default=0.94)
    ap.add_argument("--clusters", type=int, default=32)
    ap.add_argument("--lenet5-train", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--democnn-train", type=int, default=20000)
    ap.add_argument("--only", default="lenet300,lenet5,lowrank,democnn")
    args = ap.parse_args(argv)
    path = data_path(args.data)
    if not os.path.exists(path):
        print(f"compress: skipped (no MNIST file at {path}; pass --data)")
        return 0
    xtr, ytr, xte, yte = load(path)
    args.yte = yte
    only = set(args.only.split(","))
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    rows, model, cnn = [], None, None
    if "lenet300" in only or "lowrank" in only:
        model = deep_compress("LeNet-300-100", lenet300, xtr.reshape(-1, 784), ytr,
                              xte.reshape(-1, 784), yte, args, rows)
    if "lenet5" in only:
        n = args.lenet5_train
        deep_compress(f"LeNet-5 ({n} train)", lenet5, xtr[:n].reshape(-1, 1, 28, 28), ytr[:n],
                      xte.reshape(-1, 1, 28, 28), yte, args, rows)
    if "democnn" in only:
        from fastnn.__main__ import _build_cnn
        n = args.democnn_train
        cnn = deep_compress(f"demo CNN ({n} train)", lambda: _build_cnn(28),
                            xtr[:n].reshape(-1, 1, 28, 28), ytr[:n], xte.reshape(-1, 1, 28, 28),
                            yte, args, rows)
    print(f"\n== Deep Compression (epochs {args.epochs} dense + {args.prune_epochs + 1} pruning "
          f"+ {args.tune_epochs} shared fine-tune; sparsity {args.sparsity})")
    print(table(["model", "dense acc", "pruned acc", "k", "shared acc", "tuned acc", "save B",
                 "compressed B", "ratio", "loss pp", "bitwise", "s"], rows))
    if CODECS:
        print("\n== stream bytes by coder (the streams of each compressed file; 'huffman' codes "
              "the gap and index streams, the rest counted at min(raw, lzma))")
        keys = list(CODECS[0][2])
        print(table(["model", "file B"] + keys,
                    [[n, t] + ["-" if v[k] is None else v[k] for k in keys] for n, t, v in CODECS]))
    if "lowrank" in only and model is not None:
        print_lowrank("LeNet-300-100", model, xte.reshape(-1, 784), args)
    if cnn is not None:
        print_lowrank("the demo CNN", cnn, xte.reshape(-1, 1, 28, 28), args)
        conv_choice(cnn, xte.reshape(-1, 1, 28, 28), args)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    return 0
