"""fit's progress output: a tqdm bar per epoch on a terminal, one line per epoch anywhere else.

``verbose=1`` draws a bar when stderr (where the bar goes) is a terminal or a notebook. In a log
file or CI the bar's carriage-return redraws would fill the log, so it prints the ``verbose=2``
line instead -- as Keras does with ``verbose="auto"`` and tqdm with ``disable=None``. The
environment variable ``FASTNN_PROGRESS`` overrides the choice: ``bar`` or ``lines``.
"""
import os
import sys

__all__ = ["ENV", "use_bar", "epoch_bar", "epoch_line"]

ENV = "FASTNN_PROGRESS"


def _notebook():
    """Whether tqdm.auto would draw a notebook widget (there stderr is no tty, yet bars work)."""
    try:
        from tqdm.autonotebook import tqdm as auto
        from tqdm.std import tqdm as std
    except ImportError:
        return False
    return auto is not std


def use_bar(stream=None):
    """Whether verbose=1 draws a bar on ``stream`` (default: sys.stderr, where tqdm writes)."""
    mode = os.environ.get(ENV, "").strip().lower()
    if mode in ("bar", "bars"):
        return True
    if mode in ("line", "lines"):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        tty = False
    return tty or _notebook()


def epoch_bar(verbose, epoch, epochs, n):
    """A tqdm bar over one epoch's ``n`` samples when verbose == 1 and bars can be drawn, else
    None (then ``epoch_line`` reports the epoch)."""
    if verbose != 1 or not use_bar():
        return None
    from tqdm.auto import tqdm
    return tqdm(total=n, desc=f"Epoch {epoch + 1}/{epochs}", unit=" samples", file=sys.stderr,
                leave=True, dynamic_ncols=True, mininterval=0.25)


def epoch_line(epoch, epochs, seconds, seen, logs):
    """Print one line for a finished epoch (verbose=2, or verbose=1 without a bar)."""
    items = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "lr")
    print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - "
          f"{seen / max(seconds, 1e-9):.0f} samples/s - {items}", flush=True)
