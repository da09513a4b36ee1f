"""low_rank (SVD factorisation) and the Deep Compression file with its Huffman coder."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.compress import _huffman, cluster_weights, low_rank, save_compressed
from fastnn.prune import magnitude_prune


def test_exact_on_truly_low_rank_weight(rng):
    model = nn.Sequential(nn.Linear(512, 512))
    a = rng.standard_normal((512, 24)).astype(np.float32)
    b = rng.standard_normal((24, 512)).astype(np.float32)
    model[0].weight.data[...] = a @ b / 24
    new, rep = low_rank(model, energy=0.999999)
    assert rep["0"]["rank"] == 24 and rep["0"]["replaced"]
    n_old = sum(p.data.size for _, p in model.named_parameters())
    n_new = sum(p.data.size for _, p in new.named_parameters())
    assert n_new <= 0.2 * n_old
    x = rng.standard_normal((5, 512)).astype(np.float32)
    y0, y1 = model(x), new(x)
    tol = 1e-5 * np.sqrt(512) * np.abs(y0).max()
    np.testing.assert_allclose(y1, y0, atol=tol)


def test_untouched_when_no_saving(rng):
    model = nn.Sequential(nn.Linear(8, 4))
    new, rep = low_rank(model, energy=1.0)
    assert not rep["0"]["replaced"]
    assert isinstance(new[0], nn.Linear)
    assert model is not new


def test_conv_against_torch_reconstruction(rng, torch):
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1))
    new, rep = low_rank(model, rank=4)
    w = torch.tensor(model[0].weight.data).reshape(16, -1).double()
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    w4 = (u[:, :4] * s[:4]) @ vh[:4]
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    ref = torch.nn.functional.conv2d(torch.tensor(x).double(), w4.reshape(16, 3, 3, 3),
                                     torch.tensor(model[0].bias.data).double(), padding=1)
    tol = 1e-5 * np.sqrt(27) * float(ref.abs().max())
    np.testing.assert_allclose(new(x), ref.numpy(), atol=tol)


@pytest.mark.parametrize("graph", [False, True])
def test_compressed_file_round_trips(tmp_path, rng, graph):
    fastnn.manual_seed(1)
    if graph:
        x = nn.Input((1, 8, 8))
        h = nn.Flatten()(nn.ReLU()(nn.BatchNorm2d(4)(nn.Conv2d(1, 4, 3)(x))))
        model = nn.Model(x, nn.Linear(144, 3)(h))
    else:
        model = nn.Sequential(nn.Linear(300, 700), nn.ReLU(), nn.Linear(700, 3))
    magnitude_prune(model, 0.95 if not graph else 0.5)
    cluster_weights(model, 16)
    path = tmp_path / "m.fndc"
    size = save_compressed(model, path)
    assert size == os.path.getsize(path)
    back = fastnn.load(path)
    model.eval()
    back.eval()
    xb = rng.standard_normal((4,) + ((1, 8, 8) if graph else (300,))).astype(np.float32)
    np.testing.assert_array_equal(back(xb), model(xb))
    fastnn.save(model, tmp_path / "f")
    if not graph:
        assert os.path.getsize(tmp_path / "f") > 10 * size


def test_truncated_and_corrupted_files(tmp_path):
    model = nn.Sequential(nn.Linear(20, 5))
    cluster_weights(model, 4)
    path = tmp_path / "m.fndc"
    save_compressed(model, path)
    data = path.read_bytes()
    (tmp_path / "t").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="corrupted"):
        fastnn.load(tmp_path / "t")
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    (tmp_path / "c").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="checksum"):
        fastnn.load(tmp_path / "c")


def _reseal(body):
    import hashlib
    return body + hashlib.sha256(body).digest()


def test_version_1_files_still_load_and_unknown_versions_are_refused(tmp_path, rng):
    """Version 2 stores the header lzma-compressed after a codec byte; a version 1 file (raw JSON
    header, no codec byte) written by the previous release still loads, bit for bit."""
    import lzma
    import struct
    from fastnn.compress import _file
    model = nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 3))
    magnitude_prune(model, 0.8)
    cluster_weights(model, 8)
    path = tmp_path / "v2.fndc"
    save_compressed(model, path)
    data = path.read_bytes()
    assert data.startswith(b"FNDC\x02\n")
    (n,) = struct.unpack_from("<Q", data, 6)
    head, rest = data[14:14 + n], data[14 + n:-32]
    assert head[0] == 1  # lzma: smaller than the JSON here
    raw = lzma.decompress(head[1:])
    v1 = _reseal(b"FNDC\x01\n" + struct.pack("<Q", len(raw)) + raw + rest)
    (tmp_path / "v1.fndc").write_bytes(v1)
    x = rng.standard_normal((3, 40)).astype(np.float32)
    model.eval()
    np.testing.assert_array_equal(fastnn.load(tmp_path / "v1.fndc").eval()(x), model(x))
    v9 = _reseal(b"FNDC\x09\n" + data[6:-32])
    (tmp_path / "v9.fndc").write_bytes(v9)
    with pytest.raises(ValueError, match="not a fastnn Deep Compression file of a known version"):
        fastnn.load(tmp_path / "v9.fndc")
    bad_codec = _reseal(data[:14] + b"\x07" + data[15:-32])
    (tmp_path / "bc.fndc").write_bytes(bad_codec)
    with pytest.raises(ValueError, match="unknown header codec"):
        fastnn.load(tmp_path / "bc.fndc")
    assert _file.MAGIC == b"FNDC\x02\n"


@pytest.mark.parametrize("case", ["one", "equal", "wide", "skewed", "empty"])
def test_huffman_edge_distributions(rng, case):
    s, a = {"one": (np.zeros(1, np.int64), 1), "equal": (np.full(300, 5), 8),
            "wide": (rng.permutation(np.arange(1 << 16)), 1 << 16),
            "skewed": (rng.geometric(0.4, 5000) - 1, 64), "empty": (np.zeros(0, np.int64), 4)}[case]
    blob = _huffman.encode(s, a)
    out, used = _huffman.decode(blob)
    assert used == len(blob)
    np.testing.assert_array_equal(out, s)
    if case == "equal":
        assert len(blob) <= 20 + 8 + 300 // 8 + 1
    with pytest.raises(ValueError):
        _huffman.decode(blob[:10])


def test_report_combines_methods(rng):
    from fastnn.compress import report
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 40), nn.ReLU(), nn.Linear(40, 3))
    magnitude_prune(model, 0.5)
    cluster_weights(model, 4)
    x = rng.standard_normal((30, 10)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    r = report(model, x, y)
    assert r["layers"]["0"]["clusters"] <= 4 and abs(r["layers"]["0"]["sparsity"] - 0.5) < 0.05
    model.eval()
    assert r["accuracy"] == float(np.mean(np.argmax(model(x), axis=1) == y))
    assert r["file_bytes"] > 0
    with pytest.raises(ValueError, match="labels"):
        report(model, x, y[:3])
