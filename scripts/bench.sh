#!/usr/bin/env bash
# Runs jrocm's training-step benchmarks (JMH: full and LoRA) and PyTorch's
# (benchmarks/pytorch/train_step.py, lora_step.py) side by side, in two environments, and writes target/bench/summary.md and summary.json:
#   installed  the machine's environment as it is
#   best       OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (AVX-512 kernels) for both sides, and
#              for PyTorch also tcmalloc (LD_PRELOAD) and OMP_WAIT_POLICY=PASSIVE
# The variables are changed only inside these commands, never for anything else.
#
#   scripts/bench.sh [--quick]     --quick: shorter runs (~3 minutes instead of ~8)
#
# Run it on a quiet machine: anything else using the cores skews both sides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$JROCM_ROOT"

quick=0
[ "${1:-}" = "--quick" ] && quick=1
out="$JROCM_ROOT/target/bench"
mkdir -p "$out"

echo "building benchmarks.jar ..."
mvn -B -ntp -q -DskipTests package
jar=benchmarks/target/benchmarks.jar
java=(java)
# JMH itself uses sun.misc.Unsafe, which JDK 24+ warns about on every run.
[ "$(jrocm_jdk_version "$JAVA_HOME")" -ge 24 ] && java+=(--sun-misc-unsafe-memory-access=allow)

jmh_opts=(-rf json)
pt_quick=()
if [ $quick = 1 ]; then
  jmh_opts+=(-wi 2 -i 3 -w 1 -r 1)
  pt_quick=(--target-seconds 3)
fi

python=/usr/bin/python3
have_torch=1
"$python" -c 'import torch' 2>/dev/null || have_torch=0
[ $have_torch = 1 ] || echo "PyTorch is not installed for $python (Debian: apt-get install python3-torch): jrocm only"
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -f "$tcmalloc" ] || { echo "no tcmalloc ($tcmalloc; Debian: libtcmalloc-minimal4): PyTorch's best run goes without it"; tcmalloc=; }

for config in installed best; do
  if [ $config = installed ]; then
    envcmd=(env)
    ptenv=(env)
  else
    envcmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
    ptenv=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE ${tcmalloc:+LD_PRELOAD=$tcmalloc})
  fi
  echo "== $config: jrocm"
  "${envcmd[@]}" "${java[@]}" -jar "$jar" 'TrainStepBenchmark|LoraStepBenchmark' "${jmh_opts[@]}" -rff "$out/jrocm-train-$config.json" \
    | grep -E '^(Benchmark|TrainStep|LoraStep)'
  if [ $config = installed ]; then
    echo "== memory bandwidth"
    "${java[@]}" -jar "$jar" CopyBandwidthBenchmark "${jmh_opts[@]}" -rff "$out/jrocm-copy.json" | grep -E '^(Benchmark|CopyBand)'
  fi
  if [ $have_torch = 1 ]; then
    echo "== $config: PyTorch"
    "${ptenv[@]}" "$python" benchmarks/pytorch/train_step.py --batch 8 64 256 "${pt_quick[@]}" --json "$out/pytorch-train-$config.json" >/dev/null
    "${ptenv[@]}" "$python" benchmarks/pytorch/lora_step.py --batch 8 64 "${pt_quick[@]}" --json "$out/pytorch-lora-$config.json" >/dev/null
  fi
done

/usr/bin/python3 benchmarks/summarize.py "$out"
echo "wrote $out/summary.md and $out/summary.json"
