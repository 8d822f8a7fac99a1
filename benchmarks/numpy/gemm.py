#!/usr/bin/env python3
"""The peer of CpuGemmBenchmark: the same GEMMs (shapes, transposes, float32, beta = 0) through
numpy, i.e. the BLAS numpy links (Debian's python3-numpy: libblas.so.3, OpenBLAS by default),
called from C; and OpenBLAS's sgemv streaming the batch-8 weight matrices (W @ x with a float32
vector), the rate the skinny path is measured against.

    /usr/bin/python3 benchmarks/numpy/gemm.py [--quick] [--json out.json]

Transposes are views (A.T, B.T), which numpy hands to sgemm as transpose flags without copying,
as jrocm passes CblasTrans. out= keeps the result buffer fixed, so nothing is allocated inside
the timed call; a B (or W) of 8 MiB or more rotates among copies, >= 96 MiB in all, so that it
comes from memory and not from the 32 MiB L3, as in CpuGemmBenchmark. Times: median of repeats of a timed batch of calls; GFLOP/s = 2·m·n·k / time,
GB/s = 4·(m·k + k·n + m·n) / time (each operand once).
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

SHAPES = ["8x4096x3072:NT", "8x2048x4096:NT", "8x4096x2048:NN", "4096x3072x8:TN", "2048x4096x8:TN",
          "256x4096x3072:NT", "256x4096x2048:NN", "4096x3072x256:TN",
          "512x512x512:NN", "1024x1024x1024:NN", "2048x2048x2048:NN"]
GEMV = [(4096, 3072), (2048, 4096)]  # the batch-8 weight matrices, out × in


def copies(nbytes):
    """As CpuGemmBenchmark.copies: a B of 8 MiB or more rotates among copies of >= 96 MiB in all,
    so that it is read from memory each call, not from the 32 MiB L3."""
    return 1 if nbytes < (8 << 20) else max(2, -(-(96 << 20) // nbytes))


def blas_config():
    """OpenBLAS's own description of the library numpy uses, when it is OpenBLAS."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_num_threads.restype = ctypes.c_int
            return f"{lib.openblas_get_config().decode().strip()}, {lib.openblas_get_num_threads()} threads ({name})"
        except (OSError, AttributeError):
            continue
    return "unknown"


def timeit(fn, target_s):
    fn()
    fn()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        fn()
        calls += 1
    per = (time.perf_counter() - start) / calls
    batch = max(1, int(0.02 / per))
    times = []
    end = time.perf_counter() + target_s
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - t0) / batch)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about 1 s per shape instead of 3")
    ap.add_argument("--json")
    args = ap.parse_args()
    target = 1.0 if args.quick else 3.0
    rng = np.random.default_rng(42)
    results = []
    for shape in SHAPES:
        dims, ops = shape.split(":")
        m, n, k = (int(x) for x in dims.split("x"))
        a = (rng.random((k, m) if ops[0] == "T" else (m, k), dtype=np.float32) - 0.5)
        bs = [rng.random((n, k) if ops[1] == "T" else (k, n), dtype=np.float32) - 0.5
              for _ in range(copies(4 * k * n))]
        opa = a.T if ops[0] == "T" else a
        opbs = [b.T if ops[1] == "T" else b for b in bs]
        c = np.empty((m, n), dtype=np.float32)
        turn = [0]

        def call():
            np.matmul(opa, opbs[turn[0]], out=c)
            turn[0] = (turn[0] + 1) % len(opbs)
        s = timeit(call, target)
        results.append({"shape": shape, "ms": s * 1e3, "gflops": 2 * m * n * k / s / 1e9,
                        "gbs": 4 * (m * k + k * n + m * n) / s / 1e9})
        print(f"{shape:>18}  {s * 1e3:8.3f} ms  {results[-1]['gflops']:7.1f} GFLOP/s  {results[-1]['gbs']:6.1f} GB/s",
              flush=True)
    gemv = []
    for rows, cols in GEMV:
        ws = [rng.random((rows, cols), dtype=np.float32) - 0.5 for _ in range(copies(4 * rows * cols))]
        x = rng.random(cols, dtype=np.float32) - 0.5
        y = np.empty(rows, dtype=np.float32)
        turn = [0]

        def call_gemv():
            np.matmul(ws[turn[0]], x, out=y)
            turn[0] = (turn[0] + 1) % len(ws)
        s = timeit(call_gemv, target)
        gemv.append({"shape": f"{rows}x{cols}", "ms": s * 1e3, "gbs": 4 * rows * cols / s / 1e9})
        print(f"sgemv {rows}x{cols}  {s * 1e3:8.3f} ms  {gemv[-1]['gbs']:6.1f} GB/s (W streamed)", flush=True)
    env = {"numpy_version": np.__version__, "python": sys.version.split()[0], "blas": blas_config(),
           "machine": platform.machine(), "cores": os.cpu_count(),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "gemm": results, "sgemv": gemv}, f, indent=1)


if __name__ == "__main__":
    main()
