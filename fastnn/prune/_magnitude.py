"""Magnitude (weight) pruning with masks kept on the parameters, and remove_masks."""
from fastnn import _C
from fastnn.prune._common import (check_choice, check_fraction, check_mask, check_model,
                                  display, resolve_layers, set_mask)
from fastnn.prune._report import sparsity_report

__all__ = ["magnitude_prune", "remove_masks"]

SCOPES = ("layer", "global")


def magnitude_prune(model, amount, *, scope="layer", layers=None):
    """Zero the smallest-magnitude weights of the model's Linear and Conv2d layers (weights only;
    biases are never pruned) and keep them zero from then on.

    amount: the target fraction of zeros in [0, 1): ``round(amount * n)`` of the n weights
        (Python's round, as torch.nn.utils.prune) end up pruned -- per layer (``scope="layer"``)
        or across the selected layers taken together (``scope="global"``: one magnitude
        threshold, so layers end up with different sparsities). Weights already pruned stay
        pruned and count towards the target; a layer already sparser than asked keeps its mask.
    layers: None (every Linear/Conv2d) or a list of layer names (as in ``model.named_modules()``)
        or layer objects.
    Ties in magnitude go to the earlier layer, then the lower flat index, so the result is
    deterministic.

    The mask is stored on the parameter (``weight.mask``: float32 0/1, C-contiguous, the weight's
    shape) and applied at once: pruned weights are exactly zero in ``weight.data``. From then on
    they stay zero: the fused optimizer step multiplies each updated parameter by its mask, the
    layer's forward re-applies the mask to ``.data`` in place (so even a value written into
    ``.data`` by hand never reaches an output) and its backward masks the gradient. An existing
    optimizer picks up new masks by itself. ``remove_masks`` makes the pruning permanent.

    Returns ``sparsity_report(model)``. Bad arguments raise ValueError/TypeError naming the
    argument, with the model unchanged.
    """
    where = "magnitude_prune"
    check_model(model, where)
    amount = check_fraction(amount, "amount", where)
    check_choice(scope, "scope", SCOPES, where)
    targets = resolve_layers(model, layers, where)
    params = [layer.weight for _, layer in targets]
    for (name, _), p in zip(targets, params):
        check_mask(p, f"{display(name)}.weight", where)
    data = [p.data for p in params]
    masks = [p.mask for p in params]
    if scope == "layer":
        new = [_C.magnitude_masks([d], [m], round(amount * d.size))[0]
               for d, m in zip(data, masks)]
    else:
        total = sum(d.size for d in data)
        new = _C.magnitude_masks(data, masks, round(amount * total))
    for p, m in zip(params, new):  # commit: nothing below can fail on checked input
        set_mask(p, m)
    return sparsity_report(model)


def remove_masks(model):
    """Make pruning permanent: zero every masked parameter's pruned entries one last time and drop
    its mask (``param.mask = None``), so training no longer keeps them at zero. Returns the number
    of masks removed."""
    check_model(model, "remove_masks")
    n = 0
    for name, p in model.named_parameters():
        if p.mask is not None:
            check_mask(p, repr(name), "remove_masks")
    for _, p in model.named_parameters():
        if p.mask is not None:
            _C.mask_apply(p.data, p.mask)
            p.mask = None
            n += 1
    return n
