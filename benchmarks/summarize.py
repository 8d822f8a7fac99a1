#!/usr/bin/env python3
"""Combines the JSON results of scripts/bench.sh into summary.md and summary.json.

    python3 benchmarks/summarize.py target/bench

Standard library only. Rows: one per (environment, batch) with jrocm's and PyTorch's time per
training step, samples/s and the ratio jrocm/PyTorch in samples/s (> 1: jrocm is faster).
"""
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


def main(out):
    rows = []
    torch_version = None
    for config in ("installed", "best"):
        jr = jmh_scores(load(os.path.join(out, f"jrocm-train-{config}.json")), "TrainStepBenchmark.step")
        pt = load(os.path.join(out, f"pytorch-train-{config}.json"))
        pt_rows = {r["batch"]: r for r in (pt or {}).get("results", [])}
        if pt:
            torch_version = pt["environment"]["torch_version"]
        for batch in sorted(set(jr) | set(pt_rows)):
            j_ms, j_err = jr.get(batch, (None, None))
            p_ms = pt_rows.get(batch, {}).get("ms_per_step_median")
            rows.append({
                "environment": config, "batch": batch,
                "jrocm_ms": j_ms, "jrocm_ms_error": j_err,
                "jrocm_samples_per_s": batch * 1000 / j_ms if j_ms else None,
                "pytorch_ms_median": p_ms,
                "pytorch_samples_per_s": batch * 1000 / p_ms if p_ms else None,
                "ratio": p_ms / j_ms if (p_ms and j_ms) else None,
            })
    lora_rows = []
    for config in ("installed", "best"):
        data = load(os.path.join(out, f"jrocm-train-{config}.json"))
        jr = jmh_scores(data, "LoraStepBenchmark.step")
        full = jmh_scores(data, "TrainStepBenchmark.step")
        pt = load(os.path.join(out, f"pytorch-lora-{config}.json"))
        forms = {}
        for r in (pt or {}).get("results", []):
            forms.setdefault(r["batch"], {})[r["form"]] = r["ms_per_step_median"]
        for batch in sorted(set(jr) | set(forms)):
            j_ms = jr.get(batch, (None, None))[0]
            f_ms = full.get(batch, (None, None))[0]
            act = forms.get(batch, {}).get("activation")
            par = forms.get(batch, {}).get("parametrize")
            lora_rows.append({
                "environment": config, "batch": batch, "jrocm_lora_ms": j_ms, "jrocm_full_ms": f_ms,
                "lora_to_full": j_ms / f_ms if (j_ms and f_ms) else None,
                "pytorch_activation_ms": act, "pytorch_parametrize_ms": par,
                "ratio_vs_activation": act / j_ms if (act and j_ms) else None,
            })
    copy = jmh_scores_copy(load(os.path.join(out, "jrocm-copy.json")))
    summary = {"machine": machine(), "torch_version": torch_version, "copy_bandwidth_gb_s": copy, "rows": rows,
               "lora_rows": lora_rows}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    def fmt(v, pattern):
        return pattern.format(v) if v is not None else "—"

    m = summary["machine"]
    lines = [
        "| environment | batch | jrocm ms/step | jrocm samples/s | PyTorch ms/step | PyTorch samples/s | jrocm ÷ PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append("| {} | {} | {} ± {} | {} | {} | {} | {} |".format(
            r["environment"], r["batch"], fmt(r["jrocm_ms"], "{:.1f}"), fmt(r["jrocm_ms_error"], "{:.1f}"),
            fmt(r["jrocm_samples_per_s"], "{:,.0f}"), fmt(r["pytorch_ms_median"], "{:.1f}"),
            fmt(r["pytorch_samples_per_s"], "{:,.0f}"), fmt(r["ratio"], "{:.2f}×")))
    if lora_rows:
        lines += ["", "LoRA (rank 1 on fc1–fc3, base frozen) training step:", "",
                  "| environment | batch | jrocm LoRA ms/step | jrocm full ms/step | LoRA ÷ full | PyTorch activation-form ms | PyTorch parametrize-form ms | jrocm ÷ PyTorch activation |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in lora_rows:
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r["environment"], r["batch"], fmt(r["jrocm_lora_ms"], "{:.2f}"), fmt(r["jrocm_full_ms"], "{:.1f}"),
                fmt(r["lora_to_full"], "{:.2f}"), fmt(r["pytorch_activation_ms"], "{:.2f}"),
                fmt(r["pytorch_parametrize_ms"], "{:.1f}"), fmt(r["ratio_vs_activation"], "{:.2f}×")))
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; {m['java']}; PyTorch {torch_version}; "
              f"OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={m['OPENBLAS_L2_SIZE']} (installed)."]
    if copy:
        lines.append(f"Memory bandwidth (CopyBandwidthBenchmark, read + write): {copy:.1f} GB/s.")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def jmh_scores_copy(data):
    for row in data or []:
        if row["benchmark"].endswith("CopyBandwidthBenchmark.copy"):
            mb = int(row["params"]["megabytes"])
            return 2 * mb * (1 << 20) / (row["primaryMetric"]["score"] / 1000) / 1e9
    return None


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench")
