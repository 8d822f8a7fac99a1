#!/usr/bin/env python3
"""Combines the JSON results of scripts/bench.sh into summary.md and summary.json.

    python3 benchmarks/summarize.py target/bench

Standard library only. Rows: one per (environment, batch) with jrocm's and PyTorch's time per
training step, samples/s and the ratio jrocm/PyTorch in samples/s (> 1: jrocm is faster); one per
GEMM shape with every jrocm path (GFLOP/s, GB/s), numpy's time for the same GEMM and the ratio;
the FFM call overhead; and the issue's targets, each with its measured value.
"""
import glob
import json
import os
import platform
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def jmh_scores(data, name):
    """{batch: (ms, error)} from a JMH JSON list for benchmark methods ending in name."""
    out = {}
    for row in data or []:
        if row["benchmark"].endswith(name):
            batch = int(row["params"]["batch"])
            out[batch] = (row["primaryMetric"]["score"], row["primaryMetric"]["scoreError"])
    return out


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except (OSError, IndexError):
        java = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "java": java,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}


GEMM_PATHS = ("naive", "java", "skinny", "cblas", "gpu")
#: Bytes of weights a batch-8 step of the blog MLP streams (fc1 4096×3072, fc2 2048×4096, fc3 10×2048 floats).
WEIGHT_BYTES = 4 * (4096 * 3072 + 2048 * 4096 + 10 * 2048)


def shape_numbers(shape):
    dims, _ = shape.split(":")
    m, n, k = (int(x) for x in dims.split("x"))
    return m, n, k, 2 * m * n * k, 4 * (m * k + k * n + m * n)


def gemm_section(out):
    """Rows {shape, path, environment, ms, gflops, gbs} for jrocm's paths and numpy, and sgemv rates."""
    rows = []
    files = [("installed", "jrocm-gemm-installed.json"), ("installed", "jrocm-gemm-skinny.json"),
             ("installed", "jrocm-gemm-naive.json"), ("best", "jrocm-gemm-best.json"),
             ("installed", "jrocm-gpu-gemm.json")]
    for env, name in files:
        for r in load(os.path.join(out, name)) or []:
            shape = r["params"]["shape"]
            path = r["params"].get("path", "gpu")
            ms = r["primaryMetric"]["score"]
            _, _, _, flops, nbytes = shape_numbers(shape)
            rows.append({"shape": shape, "path": path, "environment": env, "ms": ms,
                         "ms_error": r["primaryMetric"]["scoreError"],
                         "gflops": flops / (ms / 1e3) / 1e9, "gbs": nbytes / (ms / 1e3) / 1e9})
    sgemv = {}
    numpy_env = {}
    for env in ("installed", "best"):
        data = load(os.path.join(out, f"numpy-gemm-{env}.json"))
        if not data:
            continue
        numpy_env[env] = data["environment"]
        for r in data["gemm"]:
            rows.append({"shape": r["shape"], "path": "numpy", "environment": env, "ms": r["ms"], "ms_error": None,
                         "gflops": r["gflops"], "gbs": r["gbs"]})
        sgemv[env] = data["sgemv"]
    return rows, sgemv, numpy_env


def ffm_section(out):
    result = {}
    for r in load(os.path.join(out, "jrocm-ffm.json")) or []:
        result[r["benchmark"].rsplit(".", 1)[1]] = r["primaryMetric"]["score"]
    return result


def gpu_host_section(out):
    """GpuStepHostBenchmark: jrocm's own host microseconds per GPU training step, by run (full, lora)."""
    result = {}
    for r in load(os.path.join(out, "jrocm-gpuhost.json")) or []:
        result[r["params"]["run"]] = r["primaryMetric"]["score"]
    return result


def peers(out, kind, config):
    """Every PyTorch peer's results for one benchmark kind ("train" or "lora") and environment:
    {label: data}, label "2.13.0, flush on"; files pytorch-{kind}-{config}-torch{v}-flush-{on|off}.json."""
    found = {}
    for path in sorted(glob.glob(os.path.join(out, f"pytorch-{kind}-{config}-*.json"))):
        data = load(path)
        if data:
            env = data["environment"]
            found[f"{env['torch_version']}, flush {'on' if env.get('flush_denormal') else 'off'}"] = data
    return found


def fastest(by_peer):
    """(label, ms) of the smallest ms in {label: ms}, ignoring peers without a figure; (None, None) if none."""
    known = {k: v for k, v in by_peer.items() if v}
    if not known:
        return None, None
    label = min(known, key=known.get)
    return label, known[label]


def main(out):
    rows = []
    torch_versions = set()
    for config in ("installed", "best"):
        jr = jmh_scores(load(os.path.join(out, f"jrocm-train-{config}.json")), "TrainStepBenchmark.step")
        pts = peers(out, "train", config)
        by_batch = {}
        for label, data in pts.items():
            torch_versions.add(data["environment"]["torch_version"])
            for r in data.get("results", []):
                by_batch.setdefault(r["batch"], {})[label] = r["ms_per_step_median"]
        for batch in sorted(set(jr) | set(by_batch)):
            j_ms, j_err = jr.get(batch, (None, None))
            peer, p_ms = fastest(by_batch.get(batch, {}))
            rows.append({
                "environment": config, "batch": batch,
                "jrocm_ms": j_ms, "jrocm_ms_error": j_err,
                "jrocm_samples_per_s": batch * 1000 / j_ms if j_ms else None,
                "pytorch_peer": peer, "pytorch_peers_ms": by_batch.get(batch, {}),
                "pytorch_ms_median": p_ms,
                "pytorch_samples_per_s": batch * 1000 / p_ms if p_ms else None,
                "ratio": p_ms / j_ms if (p_ms and j_ms) else None,
            })
    lora_rows = []
    for config in ("installed", "best"):
        data = load(os.path.join(out, f"jrocm-train-{config}.json"))
        jr = jmh_scores(data, "LoraStepBenchmark.step")
        full = jmh_scores(data, "TrainStepBenchmark.step")
        forms = {}  # batch -> form -> label -> ms
        for label, pt in peers(out, "lora", config).items():
            for r in pt.get("results", []):
                forms.setdefault(r["batch"], {}).setdefault(r["form"], {})[label] = r["ms_per_step_median"]
        for batch in sorted(set(jr) | set(forms)):
            j_ms = jr.get(batch, (None, None))[0]
            f_ms = full.get(batch, (None, None))[0]
            act_peer, act = fastest(forms.get(batch, {}).get("activation", {}))
            _, par = fastest(forms.get(batch, {}).get("parametrize", {}))
            lora_rows.append({
                "environment": config, "batch": batch, "jrocm_lora_ms": j_ms, "jrocm_full_ms": f_ms,
                "lora_to_full": j_ms / f_ms if (j_ms and f_ms) else None,
                "pytorch_peer": act_peer, "pytorch_activation_ms": act, "pytorch_parametrize_ms": par,
                "ratio_vs_activation": act / j_ms if (act and j_ms) else None,
            })
    torch_version = ", ".join(sorted(torch_versions)) or None
    copy = jmh_scores_copy(load(os.path.join(out, "jrocm-copy.json")))
    gemm, sgemv, numpy_env = gemm_section(out)
    ffm = ffm_section(out)
    gpu_host = gpu_host_section(out)
    info = load(os.path.join(out, "info.json")) or {}
    mach = machine()
    mach.update({k: info.get(k) for k in ("blas", "blas_library", "skinny", "skinny_reason", "cpu_gemm_default",
                                          "gpu", "gpu_reason")})
    if "installed" in numpy_env:
        mach["numpy_blas"] = numpy_env["installed"]["blas"]
        mach["numpy_version"] = numpy_env["installed"]["numpy_version"]
    targets = evaluate_targets(gemm, sgemv, rows, lora_rows, copy)
    summary = {"machine": mach, "torch_version": torch_version, "copy_bandwidth_gb_s": copy, "rows": rows,
               "lora_rows": lora_rows, "gemm": gemm, "sgemv": sgemv, "ffm_ns": ffm, "gpu_host_us": gpu_host, "targets": targets}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    def fmt(v, pattern):
        return pattern.format(v) if v is not None else "—"

    m = summary["machine"]
    lines = ["Training step (full, blog MLP 3072 → 4096 → 2048 → 10, Adam):", "",
        "| environment | batch | jrocm ms/step | jrocm samples/s | fastest PyTorch (version, flush-denormal) | PyTorch ms/step | PyTorch samples/s | PyTorch ms ÷ jrocm ms |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append("| {} | {} | {} ± {} | {} | {} | {} | {} | {} |".format(
            r["environment"], r["batch"], fmt(r["jrocm_ms"], "{:.1f}"), fmt(r["jrocm_ms_error"], "{:.1f}"),
            fmt(r["jrocm_samples_per_s"], "{:,.0f}"), r["pytorch_peer"] or "—", fmt(r["pytorch_ms_median"], "{:.1f}"),
            fmt(r["pytorch_samples_per_s"], "{:,.0f}"), fmt(r["ratio"], "{:.2f}×")))
    labels = sorted({label for r in rows for label in r["pytorch_peers_ms"]})
    if labels:
        lines += ["", "Every PyTorch peer, ms/step (median):", "",
                  "| environment | batch | " + " | ".join(labels) + " |", "|---|---:|" + "---:|" * len(labels)]
        for r in rows:
            lines.append(f"| {r['environment']} | {r['batch']} | "
                         + " | ".join(fmt(r["pytorch_peers_ms"].get(label), "{:.1f}") for label in labels) + " |")
    if lora_rows:
        lines += ["", "LoRA (rank 1 on fc1–fc3, base frozen) training step:", "",
                  "| environment | batch | jrocm LoRA ms/step | jrocm full ms/step | LoRA ÷ full | fastest PyTorch (activation form) | its ms | fastest parametrize-form ms | PyTorch activation ms ÷ jrocm ms |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
        for r in lora_rows:
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r["environment"], r["batch"], fmt(r["jrocm_lora_ms"], "{:.2f}"), fmt(r["jrocm_full_ms"], "{:.1f}"),
                fmt(r["lora_to_full"], "{:.2f}"), r["pytorch_peer"] or "—", fmt(r["pytorch_activation_ms"], "{:.2f}"),
                fmt(r["pytorch_parametrize_ms"], "{:.1f}"), fmt(r["ratio_vs_activation"], "{:.2f}×")))
    lines += gemm_lines(gemm, sgemv, fmt)
    if ffm:
        lines += ["", "FFM call overhead (FfmCallBenchmark, ns per call):", "",
                  "| plain Java call (not inlined) | openblas_get_num_threads() via FFM | cblas_sgemm 1×1×1 via FFM |",
                  "|---:|---:|---:|",
                  "| {} | {} | {} |".format(fmt(ffm.get("javaCall"), "{:.1f}"), fmt(ffm.get("nativeCall"), "{:.1f}"),
                                          fmt(ffm.get("sgemm1x1x1"), "{:.0f}"))]
    if gpu_host:
        lines += ["", "jrocm's own host work in one GPU training step at batch 8 (GpuStepHostBenchmark, over a driver "
                  "that drops every launch): " + ", ".join(f"{k} {v:.1f} µs" for k, v in sorted(gpu_host.items())) + "."]
    if targets:
        lines += ["", "Targets:", ""] + [f"- {t['met_text']} {t['name']}: {t['detail']}".replace("-  ", "- ") for t in targets]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; {m['java']}; PyTorch {torch_version}; "
              f"OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={m['OPENBLAS_L2_SIZE']} (installed)."]
    lines.append(f"BLAS (jrocm): {m.get('blas')} ({m.get('blas_library')}); numpy {m.get('numpy_version')}: {m.get('numpy_blas')}.")
    lines.append("Skinny Vector API kernels: " + ("on" if m.get("skinny") else f"off ({m.get('skinny_reason')})")
                 + f"; CPU GEMM default path: {m.get('cpu_gemm_default')}. GPU: "
                 + (m.get("gpu") or f"none ({m.get('gpu_reason')})") + ".")
    if copy:
        lines.append(f"Memory bandwidth (CopyBandwidthBenchmark, read + write): {copy:.1f} GB/s.")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def gemm_lines(gemm, sgemv, fmt):
    if not gemm:
        return []
    def get(shape, path, env="installed"):
        for r in gemm:
            if r["shape"] == shape and r["path"] == path and r["environment"] == env:
                return r
        return None
    shapes = list(dict.fromkeys(r["shape"] for r in gemm))
    paths = [p for p in GEMM_PATHS if any(r["path"] == p for r in gemm)]
    lines = ["", "GEMM (row-major, C = op(A)·op(B), m×n×k:op(A)op(B); installed environment), GFLOP/s (GB/s):", "",
             "| shape | " + " | ".join(paths) + " | numpy | best jrocm ms | numpy ms | numpy ÷ best jrocm (time) | numpy ÷ cblas |",
             "|---|" + "---:|" * (len(paths) + 5)]
    for shape in shapes:
        cells = []
        jr = [r for r in (get(shape, p) for p in paths) if r and r["path"] != "gpu"]
        for p in paths:
            r = get(shape, p)
            cells.append("{} ({})".format(fmt(r["gflops"], "{:.1f}"), fmt(r["gbs"], "{:.1f}")) if r else "—")
        npy = get(shape, "numpy")
        best = min(jr, key=lambda r: r["ms"]) if jr else None
        cb = get(shape, "cblas")
        cells.append("{} ({})".format(fmt(npy["gflops"], "{:.1f}"), fmt(npy["gbs"], "{:.1f}")) if npy else "—")
        cells.append(f"{best['ms']:.3f} ({best['path']})" if best else "—")
        cells.append(fmt(npy["ms"] if npy else None, "{:.3f}"))
        cells.append(fmt(npy["ms"] / best["ms"] if (npy and best) else None, "{:.2f}×"))
        cells.append(fmt(npy["ms"] / cb["ms"] if (npy and cb) else None, "{:.2f}×"))
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    best_env = [r for r in gemm if r["environment"] == "best"]
    if best_env:
        lines += ["", "The same through OpenBLAS in the best environment (OPENBLAS_CORETYPE/L2_SIZE unset):", "",
                  "| shape | cblas GFLOP/s | numpy GFLOP/s | numpy ÷ cblas (time) |", "|---|---:|---:|---:|"]
        for shape in shapes:
            cb, npy = get(shape, "cblas", "best"), get(shape, "numpy", "best")
            if cb or npy:
                lines.append("| {} | {} | {} | {} |".format(shape, fmt(cb and cb["gflops"], "{:.1f}"),
                                                           fmt(npy and npy["gflops"], "{:.1f}"),
                                                           fmt(npy["ms"] / cb["ms"] if (cb and npy) else None, "{:.2f}×")))
    for env, rates in sgemv.items():
        lines.append("")
        lines.append(f"OpenBLAS sgemv from numpy ({env}), W streamed once: " + ", ".join(
            f"{r['shape']} {r['ms']:.3f} ms = {r['gbs']:.1f} GB/s" for r in rates) + ".")
    return lines


def evaluate_targets(gemm, sgemv, rows, lora_rows, copy):
    """The issue's targets, each with what was measured (installed environment unless named)."""
    def get(shape, path, env="installed"):
        for r in gemm:
            if r["shape"] == shape and r["path"] == path and r["environment"] == env:
                return r
        return None
    targets = []
    def add(name, met, detail):
        targets.append({"name": name, "met": met, "detail": detail,
                        "met_text": "**met**" if met else ("**missed**" if met is not None else "not measured")})
    # 1. CBLAS through FFM within 5 % of numpy at every shape ≥ 512.
    big = [s for s in dict.fromkeys(r["shape"] for r in gemm) if min(shape_numbers(s)[:3]) >= 256 and max(shape_numbers(s)[:3]) >= 512]
    pairs = [(s, get(s, "cblas"), get(s, "numpy")) for s in big]
    pairs = [(s, c, n) for s, c, n in pairs if c and n]
    if pairs:
        worst = max(pairs, key=lambda p: p[1]["ms"] / p[2]["ms"])
        ratio = worst[1]["ms"] / worst[2]["ms"]
        add("CBLAS via FFM within 5 % of numpy's BLAS at every shape ≥ 512", ratio <= 1.05,
            "worst " + worst[0] + f": jrocm {worst[1]['ms']:.3f} ms vs numpy {worst[2]['ms']:.3f} ms ({(ratio - 1) * 100:+.1f} %); all: "
            + ", ".join(f"{s} {(c['ms'] / n['ms'] - 1) * 100:+.1f} %" for s, c, n in pairs))
    else:
        add("CBLAS via FFM within 5 % of numpy's BLAS at every shape ≥ 512", None, "no numpy or CBLAS results")
    # 2. Pure-Java blocked at ≥ 50 % of OpenBLAS at 1024³.
    j, c, n = get("1024x1024x1024:NN", "java"), get("1024x1024x1024:NN", "cblas"), get("1024x1024x1024:NN", "numpy")
    if j and c:
        ref = max(c["gflops"], n["gflops"] if n else 0)
        add("pure-Java blocked GEMM ≥ 50 % of OpenBLAS at 1024³", j["gflops"] >= 0.5 * ref,
            f"{j['gflops']:.1f} GFLOP/s vs OpenBLAS {ref:.1f} GFLOP/s (the faster of jrocm's CBLAS and numpy's) = {j['gflops'] / ref * 100:.0f} %")
    # 3. At 8 rows, best path streams W at ≥ 60 % of sgemv's rate.
    rates = {r["shape"]: r["gbs"] for r in sgemv.get("installed", [])}
    for shape, w in (("8x4096x3072:NT", "4096x3072"), ("8x2048x4096:NT", "2048x4096"), ("8x4096x2048:NN", "2048x4096")):
        cands = [r for r in (get(shape, p) for p in ("skinny", "cblas", "java")) if r]
        if cands and w in rates:
            best = min(cands, key=lambda r: r["ms"])
            m, nn, k, _, _ = shape_numbers(shape)
            wgbs = 4 * nn * k / (best["ms"] / 1e3) / 1e9
            add(f"batch 8 {shape}: W streamed at ≥ 60 % of sgemv's rate", wgbs >= 0.6 * rates[w],
                f"{best['path']} {best['ms']:.3f} ms = {wgbs:.1f} GB/s of W vs sgemv {rates[w]:.1f} GB/s = {wgbs / rates[w] * 100:.0f} %")
    # 4. Training steps at batch 8.
    for r in rows:
        if r["batch"] == 8 and r["environment"] == "best" and r["ratio"]:
            add("full step at batch 8 ≥ 2× PyTorch's best", r["ratio"] >= 2,
                f"jrocm {r['jrocm_ms']:.2f} ms vs PyTorch {r['pytorch_ms_median']:.2f} ms = {r['ratio']:.2f}×")
    for r in lora_rows:
        if r["batch"] == 8 and r["environment"] == "best":
            if r["ratio_vs_activation"]:
                add("LoRA step at batch 8 ≥ 2× PyTorch's best", r["ratio_vs_activation"] >= 2,
                    f"jrocm {r['jrocm_lora_ms']:.2f} ms vs PyTorch {r['pytorch_activation_ms']:.2f} ms = {r['ratio_vs_activation']:.2f}×")
            if r["lora_to_full"]:
                add("LoRA step ≤ 0.25 × full step at batch 8", r["lora_to_full"] <= 0.25,
                    f"{r['jrocm_lora_ms']:.2f} ms / {r['jrocm_full_ms']:.2f} ms = {r['lora_to_full']:.2f}")
    if copy:
        for r in rows:
            if r["batch"] == 8 and r["environment"] == "installed" and r["jrocm_ms"]:
                floor = WEIGHT_BYTES / (copy * 1e9) * 1e3
                targets.append({"name": "context: batch-8 step vs streaming the weights once",
                                "met": None, "met_text": "",
                                "detail": f"{WEIGHT_BYTES / 1e6:.0f} MB read once at the measured bandwidth ({copy:.1f} GB/s, copy: read + write) "
                                          f"takes {floor:.2f} ms; the step takes {r['jrocm_ms']:.2f} ms = {floor / r['jrocm_ms'] * 100:.0f} % of that bound"})
    return targets


def jmh_scores_copy(data):
    for row in data or []:
        if row["benchmark"].endswith("CopyBandwidthBenchmark.copy"):
            mb = int(row["params"]["megabytes"])
            return 2 * mb * (1 << 20) / (row["primaryMetric"]["score"] / 1000) / 1e9
    return None


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench")
