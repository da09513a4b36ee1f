"""Build, dispatch and threading information."""
from fastnn import _C


def get_num_threads():
    """Threads every kernel uses (default: OMP_NUM_THREADS if set, else all cores)."""
    return _C.get_num_threads()


def set_num_threads(n):
    """Set the thread count for all kernels (process-wide)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    _C.set_num_threads(n)


def get_isa():
    """The instruction set the kernels run on now: 'avx512', 'avx2' or 'generic'."""
    return _C.active_isa()


def set_isa(name):
    """Force an ISA path ('avx512', 'avx2', 'generic'); ValueError if unusable here.

    The FASTNN_ISA environment variable does the same at import.
    """
    _C.set_isa(name)


def _amx_text(info):
    if not info["amx_usable"]:
        return "no"
    return {"off": "off", "auto": "yes, from 4 rows x 32 columns",
            "on": "yes, every call"}[info["amx_mode"]]


def _bf16_text(info):
    if info["amx"]:
        return "AMX tiles (TDPBF16PS)"
    amx = "AMX not used (mode off, or not the avx512 ISA)" if info["amx_usable"] else "no AMX"
    return f"{info['kernel']}; {amx}"


def config():
    """The build and runtime configuration as a dict."""
    info = dict(_C.build_info())
    info["isa_active"] = _C.active_isa()
    info["num_threads"] = _C.get_num_threads()
    info["gemm_tile_f32"] = tuple(_C.gemm_tile())
    info["int8_gemm"] = dict(_C.s8_gemm_info())  # [int8 GEMM]
    g = _C.gemm_config()  # [bf16 GEMM]: Module.to_bf16()
    info["bf16_gemm"] = {k[len("bf16_"):]: v for k, v in g.items() if k.startswith("bf16_")}
    from fastnn._threads import spin_policy
    info["spin_policy"] = spin_policy()
    return info


def show_config():
    """Print version, chosen ISA, ISAs compiled in, threads, compiler and OpenMP version."""
    c = config()
    cpu = ", ".join(k for k, v in c["cpu"].items() if v) or "baseline only"
    omp = c["openmp"]
    omp_s = f"{omp} ({_openmp_name(omp)})" if omp else "not available"
    lines = [
        f"fastnn {c['version']}",
        f"  ISA in use      : {c['isa_active']}  (best supported: {c['isa_best']})",
        f"  ISAs compiled   : {', '.join(c['isa_compiled'])}",
        f"  ISAs supported  : {', '.join(c['isa_supported'])}",
        f"  CPU features    : {cpu}",
        f"  f32 GEMM tile   : {c['gemm_tile_f32'][0]}x{c['gemm_tile_f32'][1]}",
        # [int8 GEMM]
        f"  int8 GEMM       : {c['int8_gemm']['kernel']}  (VNNI: {'yes' if c['int8_gemm']['vnni'] else 'no'}"
        f", AMX tiles: {_amx_text(c['int8_gemm'])})",
        f"  bf16 products   : {_bf16_text(c['bf16_gemm'])}",
        f"  threads         : {c['num_threads']}",
        f"  compiler        : {c['compiler']}",
        f"  OpenMP          : {omp_s}",
        f"  OpenMP waiting  : {c['spin_policy']}",
        f"  malloc          : {c['malloc']}",
    ]
    if c["sanitize"]:
        lines.append("  build           : ASan + UBSan (slow; for testing)")
    print("\n".join(lines))


def _openmp_name(v):
    return {201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}.get(v, "?")
