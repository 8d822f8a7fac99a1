#!/usr/bin/env bash
# The GPU check, run ON the lent GPU machine from the repository root, after scripts/device/pack.sh
# has built .gpu-pack/ here (see docs/GPU.md):
#
#   run(command="bash scripts/device/check.sh", carry=[".gpu-pack"], timeout_s=600)
#
# First the same MLP in the machine's PyTorch (steps/s at batch 8 and 256, full and LoRA), then
# jrocm's GpuCheck: 1. every Backend op on random data vs the CPU backend; 2. 200 full and 200
# LoRA training steps of the blog MLP at batch 8 vs the CPU backend's loss trajectory; 3. steps/s
# at batch 8 and 256, full and LoRA; 4. device time per kind of work in a step, and the host cost
# of a launch, a GEMM call and a read-back; 5. the speed targets against PyTorch. Then PEFT
# (where the machine has it) loads an adapter jrocm saved, and jrocm one PEFT saved. nvidia-smi
# and the libraries found go in the summary. Everything lands in $OUT (or ./gpu-check-out), at
# most 8 files (the device tool's limit): summary.md first. Exit status 1 when a check fails.
# The steps' time limits (120 + 360 + 60 s) keep the whole run inside one 600 s device call.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
pack="$root/.gpu-pack"
quick=""
[ "${1:-}" = "--quick" ] && quick="--quick"
started=$(date +%s)

env_txt=$(mktemp)
{
  echo "## machine"
  echo "date: $(date -u +%FT%TZ)"
  echo "jrocm commit: $(cat "$pack/commit.txt" 2>/dev/null || echo unknown)"
  uname -a
  echo
  echo "## nvidia-smi"
  nvidia-smi 2>&1 || echo "(nvidia-smi failed)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,power.draw --format=csv 2>&1 || true
} > "$env_txt"

[ -x "$pack/jre/bin/java" ] || { echo "check.sh: $pack/jre is missing: run scripts/device/pack.sh here first and carry .gpu-pack" | tee -a "$env_txt"; exit 2; }

# The CUDA driver, NVRTC (with its builtins) and cuBLAS (with cuBLASLt): from the linker's cache, the
# toolkit, the driver's folder, or PyTorch's pip wheels. Their folders go on LD_LIBRARY_PATH before
# java starts, so that what they dlopen by name is found too.
add_dir() { case ":${LD_LIBRARY_PATH:-}:" in *":$1:"*) ;; *) export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;; esac; }
site=$(python3 -c 'import site, sys; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
{
  echo
  echo "## libraries"
  for lib in libcuda.so.1 libnvrtc.so libcublas.so; do
    found=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 ~ "^"l {print $NF; exit}')
    if [ -z "$found" ]; then
      # shellcheck disable=SC2086
      found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/local/cuda-*/lib64 /usr/local/nvidia /usr/lib/x86_64-linux-gnu \
                   $site /opt -name "$lib*" \( -type f -o -type l \) 2>/dev/null | sort -r | head -n 1)
    fi
    if [ -n "$found" ]; then
      echo "$lib: $found"
      add_dir "$(dirname "$found")"
    else
      echo "$lib: NOT FOUND"
    fi
  done
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
} >> "$env_txt" 2>&1
cat "$env_txt"

echo
echo "== PyTorch, the same MLP"
PYTHONUNBUFFERED=1 timeout 120 python3 benchmarks/pytorch/gpu_step.py --device cuda --json "$out/pytorch.json" $quick 2>&1 \
    | tee "$out/pytorch.log"
torch_status=${PIPESTATUS[0]}

echo
echo "== jrocm GpuCheck"
java=("$pack/jre/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -XX:+UseParallelGC
      -XX:ErrorFile="$out/hs_err.log")
timeout 360 "${java[@]}" -cp "$pack/benchmarks.jar" dev.jrocm.benchmarks.GpuCheck "$out" --pytorch "$out/pytorch.json" $quick 2>&1 \
    | tee "$out/jrocm.log"
jrocm_status=${PIPESTATUS[0]}

echo
echo "== PEFT interoperability"
peft_dir=$(mktemp -d)
timeout 60 bash scripts/device/peft.sh "$peft_dir" "$pack/jre/bin/java" "$pack/benchmarks.jar" > "$out/peft.log" 2>&1
peft_status=$?
cat "$out/peft.log"

{
  echo "# GPU check: $( [ "$jrocm_status" = 0 ] && echo PASSED || echo "FAILED (GpuCheck exit $jrocm_status)")"
  echo
  echo "Took $(( $(date +%s) - started )) s. Files: jrocm-summary.md, jrocm-results.tsv (every number, the loss"
  echo "trajectories, the profile), jrocm.log, pytorch.json, pytorch.log, peft.log; hs_err.log if the JVM crashed."
  echo
  if [ -f "$out/jrocm-summary.md" ]; then cat "$out/jrocm-summary.md"; else echo "(GpuCheck wrote no summary: see jrocm.log)"; tail -n 40 "$out/jrocm.log"; fi
  echo
  echo "## PyTorch on the same machine (python3 benchmarks/pytorch/gpu_step.py, exit $torch_status)"
  echo
  grep '^|' "$out/pytorch.log" || tail -n 20 "$out/pytorch.log"
  echo
  echo "## PEFT interoperability (scripts/device/peft.sh, exit $peft_status)"
  echo
  echo '```'
  tail -n 30 "$out/peft.log"
  echo '```'
  echo
  echo "## environment"
  echo
  echo '```'
  cat "$env_txt"
  echo '```'
} > "$out/summary.md"

echo
sed -n '/^## 3\./,/^## 4\./p' "$out/summary.md" | head -n 20
sed -n '/^## 5\./,/^## environment/p' "$out/summary.md" | head -n 40
echo "summary: $out/summary.md"
exit "$jrocm_status"
