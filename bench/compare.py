"""Side-by-side benchmarks: fastnn against numpy / PyTorch on the same inputs, in the same run.

    python bench/compare.py gemm|layers|optim|mnist|prune|quant|graph|practice|onnx|compress [options]

Each suite lives in bench/compare_<name>.py with a main(argv) and prints a table of times, rates
and ratios (this machine is shared and noisy: only ratios measured in one run are meaningful).
"""
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ["gemm", "layers", "optim", "mnist", "prune", "quant", "graph", "practice", "onnx",
          "compress"]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    available = [s for s in SUITES if os.path.exists(os.path.join(HERE, f"compare_{s}.py"))]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in available:
        print(__doc__)
        print("available suites:", ", ".join(available))
        return 0 if (not argv or argv[0] in ("-h", "--help")) else 2
    sys.path.insert(0, HERE)
    mod = importlib.import_module(f"compare_{argv[0]}")
    return mod.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
