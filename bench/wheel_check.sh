#!/usr/bin/env bash
# Build the release wheel from this checkout, install it in a brand-new venv, and run
# bench/wheel_smoke.py (import, show_config, a small training run, save/load) from another
# directory. Prints the wheel's size, its largest members and `auditwheel show`.
#   bash bench/wheel_check.sh            (about a minute when build/ holds this configuration's objects)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== pip wheel (release build)"
python3 -m pip wheel "$src" --no-deps -w "$work/dist" -q
whl="$(ls "$work"/dist/fastnn-*.whl)"

echo "== a brand-new venv, the wheel, and the smoke test from $work"
python3 -m venv "$work/v"
"$work/v/bin/python" -m pip install -q "$whl" auditwheel
cp "$src/bench/wheel_smoke.py" "$work/"
(cd "$work" && "$work/v/bin/python" wheel_smoke.py)

echo "== contents"
"$work/v/bin/python" - "$whl" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
infos = sorted(z.infolist(), key=lambda i: -i.file_size)
for i in infos[:5]:
    print(f"  {i.file_size / 2**20:8.2f} MiB  {i.filename}")
bad = [i.filename for i in infos if i.filename.endswith((".cpp", ".c", ".o")) or "/tests/" in i.filename]
if bad:
    sys.exit(f"generated or build files in the wheel: {bad}")
PY
echo "== auditwheel show"
"$work/v/bin/auditwheel" show "$whl" || true   # a plain linux_x86_64 wheel: cibuildwheel repairs it
size=$(stat -c %s "$whl")
python3 -c "import sys; print(f'== wheel: {sys.argv[1]}  {int(sys.argv[2]) / 2**20:.2f} MiB')" "$(basename "$whl")" "$size"
if [ "$size" -gt $((3 * 1024 * 1024)) ]; then echo "FAIL: wheel larger than 3 MiB"; exit 1; fi
