"""Build of fastnn._C (C++17 + OpenMP, pybind11) and the Cython data module.

Each csrc/kernels/<isa>/ folder is compiled with its own ISA flags (runtime dispatch picks one at
import); everything else gets portable flags only, so the wheel runs on any x86-64. Where the
compiler lacks an ISA's flags (aarch64), that folder is skipped and dispatch reports it as not built.

Switches (environment):
  FASTNN_SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer build (see README); compiled
                      without Python's -fwrapv and -DNDEBUG, so UBSan sees signed overflow and
                      assertions stay on.
  FASTNN_DEBUG=1      keep debug information (-g) in the release build; by default release builds
                      carry none (the wheel would be ~20 MB instead of ~2 MB).
  FASTNN_JOBS=N       parallel compile jobs (default: CPU count).
  FASTNN_BUILD_DIR=D  where object files persist between builds (default: build/ in the checkout),
                      so a second `pip install -e .` only relinks when no source changed.
"""
import glob
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext

import pybind11

ROOT = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.1.0"
SANITIZE = os.environ.get("FASTNN_SANITIZE", "0") not in ("", "0")
DEBUG = os.environ.get("FASTNN_DEBUG", "0") not in ("", "0")

ISA_FLAGS = {
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "avx512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c"],
}
# Files inside an ISA folder that need more than the folder's flags (int8 dot products).
# AMX tiles (Sapphire Rapids and later): one file of the AVX-512 folder, built where the compiler
# knows the instructions (GCC >= 11), run only where the CPU has them and the OS grants tile data.
AMX_FLAGS = ["-mavx512vnni", "-mamx-tile", "-mamx-int8", "-mamx-bf16"]
# bf16 dot products (Cooper Lake, Sapphire Rapids, Zen 4), built where the compiler knows them
# (GCC >= 10); elsewhere the emulated kernels serve Module.to_bf16().
BF16_FLAGS = ["-mavx512bf16"]
FILE_FLAGS = {
    os.path.join("avx512", "gemm_bf16.cpp"): BF16_FLAGS,
    os.path.join("avx512", "gemm_s8.cpp"): ["-mavx512vnni"],
    os.path.join("avx512", "gemm_s8_amx.cpp"): AMX_FLAGS,
    os.path.join("avx512", "gemm_bf16_amx.cpp"): AMX_FLAGS,
}


def rel(path):
    return os.path.relpath(path, ROOT)


def sources(pattern):
    return sorted(rel(p) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def compiler_accepts(flags):
    """True if the C++ compiler builds a trivial file with these flags."""
    cxx = os.environ.get("CXX", "c++").split()
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.cpp")
        with open(src, "w") as f:
            f.write("int main() { return 0; }\n")
        try:
            r = subprocess.run(cxx + flags + ["-c", src, "-o", os.path.join(d, "t.o")],
                               capture_output=True)
        except OSError:
            return False
        return r.returncode == 0


def is_x86():
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


BUILT_ISAS = [isa for isa in ("avx2", "avx512") if is_x86() and compiler_accepts(ISA_FLAGS[isa])]

cpp_sources = sources("csrc/runtime/*.cpp") + sources("csrc/frame/*.cpp") + \
    sources("csrc/bindings/*.cpp") + sources("csrc/kernels/ref/*.cpp")
for isa in BUILT_ISAS:
    cpp_sources += sources(f"csrc/kernels/{isa}/*.cpp")
BUILT_AMX = "avx512" in BUILT_ISAS and compiler_accepts(ISA_FLAGS["avx512"] + AMX_FLAGS)
if not BUILT_AMX:
    cpp_sources = [s for s in cpp_sources if not s.endswith("_amx.cpp")]
BUILT_BF16 = "avx512" in BUILT_ISAS and compiler_accepts(ISA_FLAGS["avx512"] + BF16_FLAGS)
if not BUILT_BF16:
    cpp_sources = [s for s in cpp_sources if not s.endswith(os.path.join("avx512", "gemm_bf16.cpp"))]

HEADERS = sources("csrc/**/*.h")

common_flags = ["-std=c++17", "-fvisibility=hidden", "-fopenmp", "-Wall", "-Wno-unknown-pragmas"]
link_flags = ["-fopenmp"]
if SANITIZE:
    # -fno-wrapv / -UNDEBUG undo Python's own CFLAGS (which come first on the command line).
    MODE_CFLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                   "-fno-sanitize-recover=undefined", "-fno-wrapv", "-UNDEBUG"]
    MODE_LFLAGS = ["-fsanitize=address,undefined"]
elif DEBUG:
    MODE_CFLAGS, MODE_LFLAGS = ["-O3", "-g"], []
else:
    # Python's CFLAGS carry -g; -g0 after it drops the debug information, and the linker strips
    # what is left (symbol tables): the extension goes from ~51 MB to ~2 MB.
    MODE_CFLAGS, MODE_LFLAGS = ["-O3", "-g0"], ["-Wl,--strip-all"]
common_flags += MODE_CFLAGS
link_flags += MODE_LFLAGS

macros = [("FASTNN_VERSION", f'"{VERSION}"')] + \
    [(f"FASTNN_BUILT_{isa.upper()}", "1") for isa in BUILT_ISAS] + \
    ([("FASTNN_BUILT_AMX", "1")] if BUILT_AMX else []) + \
    ([("FASTNN_BUILT_BF16", "1")] if BUILT_BF16 else [])
if SANITIZE:
    macros.append(("FASTNN_SANITIZE", "1"))


def isa_flags_for(src):
    parts = os.path.normpath(src).split(os.sep)
    if SANITIZE and "bindings" in parts:
        # The bindings are pybind11 templates; UBSan's checks inside them nearly triple their
        # compile time (bind_elementwise.cpp: 31 s plain, 48 s ASan, 85 s ASan+UBSan) and test
        # pybind11, not fastnn. They keep AddressSanitizer; every kernel and frame keeps both.
        return ["-fno-sanitize=undefined"]
    if "kernels" in parts:
        i = parts.index("kernels")
        isa = parts[i + 1] if i + 1 < len(parts) else None
        flags = list(ISA_FLAGS.get(isa, []))
        flags += FILE_FLAGS.get(os.path.join(*parts[i + 1:]), [])
        return flags
    return []


def build_key():
    import numpy
    parts = [sys.version, platform.machine(), pybind11.__version__, numpy.__version__,
             os.environ.get("CXX", ""), " ".join(common_flags + link_flags), " ".join(BUILT_ISAS),
             f"amx={BUILT_AMX}", f"bf16={BUILT_BF16}"]
    mode = "sanitize" if SANITIZE else "debug" if DEBUG else "release"
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:10]
    return f"{mode}-{sys.implementation.cache_tag}-{digest}"


class BuildExt(build_ext):
    """Per-folder ISA flags, parallel compilation, and skipping objects newer than their inputs."""

    def finalize_options(self):
        super().finalize_options()
        # Objects persist in the checkout (pip's isolated and editable builds otherwise compile
        # into a fresh temporary folder every time), one folder per configuration: a sanitizer,
        # debug or release object is never mistaken for another, nor one built against another
        # Python, pybind11 or numpy.
        self.build_temp = os.path.join(os.environ.get("FASTNN_BUILD_DIR", os.path.join(ROOT, "build")),
                                       "obj-" + build_key())
        # Always relink (cheap): the object-level check below decides what is recompiled, and a
        # sanitizer build must never be mistaken for an up-to-date optimised one or vice versa.
        self.force = True

    def build_extensions(self):
        compiler = self.compiler
        if "-Wstrict-prototypes" in getattr(compiler, "compiler_so", []):
            compiler.compiler_so.remove("-Wstrict-prototypes")
        orig_compile = compiler._compile
        newest_header = max((os.path.getmtime(os.path.join(ROOT, h)) for h in HEADERS), default=0)

        def _compile(obj, src, ext, cc_args, extra_postargs, pp_opts):
            flags = list(extra_postargs or [])
            if src.endswith((".cpp", ".cc")):
                flags += isa_flags_for(src)
            if (os.path.exists(obj)
                    and os.path.getmtime(obj) >= max(os.path.getmtime(src), newest_header)
                    and src.endswith((".cpp", ".cc"))):
                return
            orig_compile(obj, src, ext, cc_args, flags, pp_opts)

        compiler._compile = _compile
        jobs = int(os.environ.get("FASTNN_JOBS", os.cpu_count() or 1))

        def parallel_compile(sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                             extra_preargs=None, extra_postargs=None, depends=None):
            macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
                output_dir, macros, include_dirs, sources, depends, extra_postargs)
            cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)

            def one(obj):
                src, ext = build[obj]
                compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                list(pool.map(one, objects))
            return objects

        compiler.compile = parallel_compile
        super().build_extensions()


class Build(build):
    """A fresh build/lib-<configuration> for every build: what a wheel packs is exactly this
    build's files (a persistent build/lib would carry a deleted module or another
    configuration's files into the next wheel). Object files persist separately (BuildExt)."""

    def finalize_options(self):
        if self.build_lib is None:
            self.build_lib = os.path.join(self.build_base, "lib-" + build_key())
        super().finalize_options()

    def run(self):
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


def cython_extensions():
    pyx = sources("fastnn/**/*.pyx")
    if not pyx:
        return []
    from Cython.Build import cythonize
    exts = []
    for p in pyx:
        name = os.path.splitext(p)[0].replace(os.sep, ".")
        exts.append(Extension(name, [p], extra_compile_args=MODE_CFLAGS, extra_link_args=MODE_LFLAGS,
                              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]))
    import numpy
    for e in exts:
        e.include_dirs.append(numpy.get_include())
    # The generated C++ goes to build/cython, not next to the .pyx, so it never ships in a wheel.
    return cythonize(exts, language_level=3, build_dir=os.path.join("build", "cython"),
                     compiler_directives={"boundscheck": False, "wraparound": False})


ext_C = Extension(
    "fastnn._C",
    sources=cpp_sources,
    include_dirs=[os.path.join("csrc", "include"), pybind11.get_include()],
    language="c++",
    define_macros=macros,
    extra_compile_args=common_flags,
    extra_link_args=link_flags,
    depends=HEADERS,
)

setup(
    version=VERSION,
    ext_modules=[ext_C] + cython_extensions(),
    cmdclass={"build": Build, "build_ext": BuildExt},
)
