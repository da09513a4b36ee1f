"""The one list of kernels: FASTNN_KERNEL_SLOTS (csrc/include/fastnn/kernel_table.h) generates the
table's slots, and each ISA's kernels.inc (K(slot, symbol)) its declarations and registrations.
A slot an ISA does not list silently keeps the lower ISA's kernel, so every such slot must be an
intended fallback, named here with its reason -- checked on the sources for every ISA (the
AVX-512 list too, on machines without AVX-512), and at run time on each ISA this CPU runs
through ``_C.kernel_names()`` (slot, the ISA that filled it, its symbol)."""
import pathlib
import re

import pytest

from fastnn import _C

ROOT = pathlib.Path(__file__).resolve().parents[2]
ISAS = ("ref", "avx2", "avx512")
RUNTIME_NAME = {"ref": "generic", "avx2": "avx2", "avx512": "avx512"}

# Slots an ISA leaves to the ISA below it, on purpose.
INTENDED_FALLBACKS = {
    "avx2": {
        "f32_pointwise_loss": "MSE / Huber / BCE losses: a double-accumulated scalar loop, not "
                              "vectorised (a loss is one pass over the outputs)",
        "f32_pointwise_loss_backward": "as f32_pointwise_loss",
        "f32_sum_abs_pow": "L-p norms for a general p (a pow per element): reference only",
        "f32_histogram": "scatter-bound (the entropy calibration's histogram): shared by all",
    },
}
INTENDED_FALLBACKS["avx512"] = dict(
    INTENDED_FALLBACKS["avx2"],
    s8_gemm_ukr="registered only where AVX-512 VNNI is usable; else the AVX2 int8 kernel")


def _slots():
    text = (ROOT / "csrc/include/fastnn/kernel_table.h").read_text()
    block = text[text.index("#define FASTNN_KERNEL_SLOTS(X)"):]
    block = block[:block.index("\n\n")]
    return re.findall(r"X\((\w+), (\w+)\)", block)


def _listed(isa):
    text = (ROOT / f"csrc/kernels/{isa}/kernels.inc").read_text()
    return re.findall(r"^K\((\w+), (\w+)\)", text, re.M)


def test_every_slot_has_a_type_and_a_unique_name():
    slots = _slots()
    names = [s for _, s in slots]
    assert len(names) == len(set(names)) and len(names) > 50
    assert all(t.endswith("_fn") for t, _ in slots)


@pytest.mark.parametrize("isa", ISAS)
def test_each_isa_lists_every_slot_or_an_intended_fallback(isa):
    slots = [s for _, s in _slots()]
    listed = [slot for slot, _ in _listed(isa)]
    assert len(listed) == len(set(listed)), f"{isa}: a slot listed twice"
    unknown = set(listed) - set(slots)
    assert not unknown, f"{isa}/kernels.inc names slots the table does not have: {unknown}"
    fallbacks = INTENDED_FALLBACKS.get(isa, {})
    missing = [s for s in slots if s not in listed and s not in fallbacks]
    assert not missing, (f"{isa}: slots that would silently keep a lower ISA's kernel: {missing} "
                         "(add them to kernels.inc, or to INTENDED_FALLBACKS with the reason)")
    stale = [s for s in fallbacks if s in listed]
    assert not stale, f"{isa}: listed as fallbacks but provided: {stale}"


def test_runtime_table_says_where_each_slot_came_from(isa):
    names = _C.kernel_names()
    assert [n[0] for n in names] == [s for _, s in _slots()]
    order = ISAS[:ISAS.index({"generic": "ref"}.get(isa, isa)) + 1]
    provided = {}
    for level in order:  # each ISA overwrites what it lists (the conditional VNNI slot aside)
        for slot, symbol in _listed(level):
            provided[slot] = (RUNTIME_NAME[level], symbol)
    for slot, origin, symbol in names:
        assert symbol, f"{slot}: empty symbol"
        if slot == "s8_gemm_ukr" and isa == "avx512":
            assert origin in ("avx512", "avx2")  # VNNI or not
            continue
        assert (origin, symbol) == provided[slot], slot
    if isa == "generic":
        assert {n[1] for n in names} == {"generic"}
