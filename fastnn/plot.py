"""Training curves with matplotlib (optional: ``pip install fastnn[plot]``).

``plot_history(history, path=None)``: one panel for the loss, one per metric and one for the
learning rate; training solid, validation (``val_*``) dashed. Figures are made with matplotlib's
object API (``matplotlib.figure.Figure``), never pyplot's global state, so plotting works in a
headless job and leaves an interactive session's backend alone.
"""
import os

__all__ = ["plot_history"]


def _figure(**kw):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install fastnn[plot]") from None
    return Figure(**kw)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)


def _history_dict(history):
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise TypeError(f"history: expected a fastnn History (fit's return value) or a dict of "
                        f"per-epoch lists, got {type(history).__name__}")
    return h


def plot_history(history, path=None):
    """Plot fit's History (or its ``.history`` dict): loss, each metric and the learning rate
    per epoch, training vs validation. Saves a PNG to ``path`` when given; returns the
    matplotlib Figure."""
    h = _history_dict(history)
    if not h:
        raise ValueError("history: nothing to plot (no epoch was run)")
    keys = [k for k in h if not k.startswith("val_") and k != "lr"]
    keys += [k[4:] for k in h if k.startswith("val_") and k[4:] not in h]
    panels = keys + (["lr"] if "lr" in h else [])
    fig = _figure(figsize=(4.5 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels):
        series = ([("lr", "lr", "-")] if key == "lr" else
                  [(key, "training", "-"), (f"val_{key}", "validation", "--")])
        for name, label, style in series:
            if name in h:
                vals = h[name]
                ax.plot(range(1, len(vals) + 1), vals, style, marker="o", markersize=3,
                        label=label)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        if key == "lr":
            vals = [v for v in h["lr"] if v > 0]
            if vals and max(vals) / min(vals) > 20:
                ax.set_yscale("log")
        else:
            ax.legend()
    if path is not None:
        _save(fig, path)
    return fig
