"""Side-by-side benchmarks: fastnn against numpy / PyTorch / onnxruntime on the same inputs, in the
same run.

    python bench/compare.py SUITE [options]      # SUITE: one of the bench/compare_<suite>.py

Each suite lives in bench/compare_<name>.py with a main(argv) and prints a table of times, rates
and ratios (this machine is shared and noisy: only ratios measured in one run are meaningful).
`python bench/compare.py` lists the suites; `python bench/compare.py SUITE --help` their options.
"""
import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = sorted(os.path.basename(p)[len("compare_"):-3]
                for p in glob.glob(os.path.join(HERE, "compare_*.py")))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUITES:
        print(__doc__)
        print("available suites:", ", ".join(SUITES))
        return 0 if (not argv or argv[0] in ("-h", "--help")) else 2
    sys.path.insert(0, HERE)
    mod = importlib.import_module(f"compare_{argv[0]}")
    return mod.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
