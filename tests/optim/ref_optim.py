"""float64 references of the fused optimizers (torch.optim's formulas plus l1, max_norm, masks)."""
import numpy as np

EPS32 = np.finfo(np.float32).eps

DEFAULTS = {
    "SGD": dict(lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10),
    "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                    centered=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False),
}


class RefOptimizer:
    """Same update as fastnn.optim.<name>, in float64, one parameter at a time."""

    def __init__(self, name, params, masks=None, **opts):
        self.name = name
        self.hp = dict(DEFAULTS[name], l1=0.0, max_norm=None)
        self.hp.update(opts)
        self.params = [np.array(p, dtype=np.float64) for p in params]
        self.masks = masks or [None] * len(params)
        self.state = [{"step": 0} for _ in params]
        # Sum of |change| per element: float32 rounding error grows with it (see tol()).
        self.moved = [np.zeros_like(p) for p in self.params]

    def step(self, grads):
        h = self.hp
        lr, wd, l1 = h["lr"], h["weight_decay"], h["l1"]
        for i, g in enumerate(grads):
            p = self.params[i]
            g = np.array(g, dtype=np.float64)
            st = self.state[i]
            st["step"] += 1
            t = st["step"]
            # Magnitude of the gradient's terms before they are summed: where they cancel, the
            # float32 sum keeps an absolute error of eps * gmag, which the step divides by its
            # denominator (den) and carries into the update (see tol()).
            gmag = np.abs(g)
            den = 1.0
            if self.name == "AdamW":
                p = p * (1 - lr * wd)
            elif wd:
                gmag = gmag + np.abs(wd * p)
                g = g + wd * p
            if l1:
                gmag = gmag + l1
                g = g + l1 * np.sign(p)
            if self.name == "SGD":
                if h["momentum"]:
                    if t == 1:
                        st["buf"] = g.copy()
                    else:
                        st["buf"] = h["momentum"] * st["buf"] + (1 - h["dampening"]) * g
                    d = g + h["momentum"] * st["buf"] if h["nesterov"] else st["buf"]
                else:
                    d = g
                p = p - lr * d
            elif self.name == "Adagrad":
                s = st.setdefault("sum", np.full_like(p, h["initial_accumulator_value"]))
                s += g * g
                clr = lr / (1 + (t - 1) * h["lr_decay"])
                den = np.sqrt(s) + h["eps"]
                p = p - clr * g / den
            elif self.name == "RMSprop":
                a = h["alpha"]
                sq = st.setdefault("sq", np.zeros_like(p))
                sq[...] = a * sq + (1 - a) * g * g
                if h["centered"]:
                    ga = st.setdefault("ga", np.zeros_like(p))
                    ga[...] = ga + (1 - a) * (g - ga)
                    avg = np.sqrt(sq - ga * ga) + h["eps"]
                else:
                    avg = np.sqrt(sq) + h["eps"]
                den = avg
                if h["momentum"] > 0:
                    buf = st.setdefault("buf", np.zeros_like(p))
                    buf[...] = h["momentum"] * buf + g / avg
                    p = p - lr * buf
                else:
                    p = p - lr * g / avg
            else:  # Adam / AdamW
                b1, b2 = h["betas"]
                m = st.setdefault("m", np.zeros_like(p))
                v = st.setdefault("v", np.zeros_like(p))
                m[...] = b1 * m + (1 - b1) * g
                v[...] = b2 * v + (1 - b2) * g * g
                if h["amsgrad"]:
                    vm = st.setdefault("vmax", np.zeros_like(p))
                    vm[...] = np.maximum(vm, v)
                    v = vm
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                den = (np.sqrt(v) / np.sqrt(bc2) + h["eps"]) * bc1
                p = p - lr / bc1 * m / (np.sqrt(v) / np.sqrt(bc2) + h["eps"])
            if self.masks[i] is not None:
                p = p * self.masks[i]
            if h["max_norm"] is not None and p.ndim >= 2:
                rows = p.reshape(p.shape[0], -1)
                norms = np.sqrt((rows * rows).sum(axis=1))
                scale = np.where(norms > h["max_norm"], h["max_norm"] / (norms + 1e-7), 1.0)
                p = (rows * scale[:, None]).reshape(p.shape)
            self.moved[i] += np.abs(p - self.params[i]) + lr * gmag / den
            self.params[i] = p

    def tol(self, factor=32.0):
        """Per-element bound for a float32 run of the same steps: a few eps32 of the parameter
        and of every update it received."""
        return [factor * EPS32 * (np.abs(p) + m) + 1e-30 for p, m in zip(self.params, self.moved)]

    def check(self, got_params, factor=32.0):
        for i, (got, want, tol) in enumerate(zip(got_params, self.params, self.tol(factor))):
            err = np.abs(np.asarray(got, np.float64) - want)
            bad = err > tol
            assert not bad.any(), (f"param {i}: {bad.sum()} of {bad.size} elements off; worst "
                                   f"err {err.max():.3g} vs tol {tol.ravel()[np.argmax(err)]:.3g}")


