#!/usr/bin/env bash
# Runs jrocm's benchmarks (JMH: the CPU GEMM paths, the GPU GEMMs where a GPU backend is, the FFM
# call overhead, full and LoRA training steps, memory bandwidth) and their peers (numpy's GEMMs
# and sgemv, benchmarks/numpy/gemm.py; PyTorch's steps, benchmarks/pytorch/train_step.py and
# lora_step.py) side by side, and writes target/bench/summary.md, summary.json and gemm.png
# (GFLOP/s by GEMM path and shape). Training steps and BLAS run in two environments:
#   installed  the machine's environment as it is
#   best       OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (AVX-512 kernels) for both sides, and
#              for PyTorch also tcmalloc (LD_PRELOAD) and OMP_WAIT_POLICY=PASSIVE
# The variables are changed only inside these commands, never for anything else.
#
#   scripts/bench.sh [--quick]     --quick: shorter runs, and the GEMMs in the installed
#                                  environment only (5 minutes on 2 cores instead of 13, measured)
#   scripts/bench.sh --long [N]    the long run instead: N steps (default 1500) of the blog MLP at
#                                  batch 8 timed in windows of 250 (StepWindows), beside every
#                                  PyTorch found with flush-denormal off and on
#                                  (benchmarks/pytorch/step_windows.py), and the main job's own
#                                  per-epoch samples/s over 5 epochs of 250 steps; writes
#                                  target/bench/long.md
#   scripts/bench.sh --cnn [--limit-train N] [--seed S]
#                                  the CNN job instead (issue #15): jrocm's scripts/demo.sh --model cnn
#                                  on Fashion-MNIST (its full epoch and its LoRA epoch) beside every
#                                  PyTorch found running samples/pytorch/cnn_workflow.py with the same
#                                  recipe, seed and LoRA targets; --limit-train N trains on the first N
#                                  images only (a smoke check, not a measurement); writes target/bench/cnn.md
#
# PyTorch peers: every interpreter in JROCM_TORCH_PYTHONS (default: python3 on PATH and
# /usr/bin/python3) that imports torch, each version once; those without torch are named and skipped.
# Each peer's steps run in both environments, and in the best one with flush-denormal off (PyTorch's
# default) and on; the summary names every peer's figure and compares jrocm with the fastest.
#
# Run it on a quiet machine: anything else using the cores skews both sides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$JROCM_ROOT"

quick=0
[ "${1:-}" = "--quick" ] && quick=1
long=0
[ "${1:-}" = "--long" ] && long=1
cnn=0
cnn_args=()
cnn_seed=0
if [ "${1:-}" = "--cnn" ]; then
  cnn=1
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --limit-train) [ $# -ge 2 ] || { echo "bench.sh: --limit-train needs a number" >&2; exit 2; }
                     cnn_args+=(--limit-train "$2"); shift 2 ;;
      --seed) [ $# -ge 2 ] || { echo "bench.sh: --seed needs a number" >&2; exit 2; }
              cnn_seed=$2; shift 2 ;;
      *) echo "bench.sh: --cnn takes --limit-train N and --seed S, not '$1'" >&2; exit 2 ;;
    esac
  done
fi
out="$JROCM_ROOT/target/bench"
mkdir -p "$out"

# PyTorch interpreters: one per torch version (Debian's 1.13 in /usr/bin/python3, a 2.x in a venv).
torch_pythons=()
declare -A seen_torch=()
for py in ${JROCM_TORCH_PYTHONS:-python3 /usr/bin/python3}; do
  v=$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null) || { echo "PyTorch peer skipped: $py has no torch"; continue; }
  [ -n "${seen_torch[$v]:-}" ] && continue
  seen_torch[$v]=1
  torch_pythons+=("$py")
  echo "PyTorch peer: torch $v ($py)"
done

if [ $cnn = 1 ]; then
  fashion=
  for d in "${JROCM_DATA:-/nonexistent}/fashion-mnist" data/fashion-mnist /usr/share/datasets/fashion-mnist; do
    [ -d "$d" ] && { fashion=$d; break; }
  done
  [ -n "$fashion" ] || { echo "bench.sh --cnn: no Fashion-MNIST (apt-get install dataset-fashion-mnist, or data/fashion-mnist)" >&2; exit 1; }
  report="$out/cnn.md"
  run_out=$(mktemp -d)
  trap 'rm -rf "$run_out"' EXIT
  echo "== jrocm: scripts/demo.sh --model cnn ${cnn_args[*]+"${cnn_args[*]}"} (Fashion-MNIST from $fashion, seed $cnn_seed)"
  bash scripts/demo.sh --model cnn --dataset fashion-mnist --data-dir "$fashion" --device cpu --seed "$cnn_seed" --no-progress \
    ${cnn_args[@]+"${cnn_args[@]}"} --out "$run_out/jrocm" > "$run_out/jrocm.log" 2>&1 \
    || { cat "$run_out/jrocm.log" >&2; echo "bench.sh --cnn: the jrocm run failed (its output above)" >&2; exit 1; }
  targets=$(/usr/bin/python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["lora"]["targets"]))' "$run_out/jrocm/report.json")
  peers=()
  for py in ${torch_pythons[@]+"${torch_pythons[@]}"}; do
    v=$("$py" -c 'import torch; print(torch.__version__)')
    echo "== PyTorch $v ($py): samples/pytorch/cnn_workflow.py, LoRA on $targets"
    if "$py" samples/pytorch/cnn_workflow.py --data "$fashion" --seed "$cnn_seed" --lora-targets "$targets" \
         ${cnn_args[@]+"${cnn_args[@]}"} --json "$run_out/torch$v.json" > "$run_out/torch$v.log" 2>&1; then
      peers+=("$run_out/torch$v.json")
    else
      tail -n 5 "$run_out/torch$v.log" >&2
      echo "PyTorch peer skipped: $py failed on cnn_workflow.py (its last lines above)"
    fi
  done
  {
    echo "# The CNN job (issue #15): one full epoch, then one rank-4 LoRA epoch, Fashion-MNIST"
    echo
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [ ${#cnn_args[@]} -gt 0 ] && echo && echo "**${cnn_args[*]}: a smoke check on a subset, not a measurement.**"
    echo
    /usr/bin/python3 - "$run_out/jrocm/report.json" ${peers[@]+"${peers[@]}"} <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = [("jrocm, " + r["deviceDescription"], r["full"]["epochs"][0]["seconds"], r["lora"]["epochs"][0]["seconds"],
         r["full"]["testAccuracy"], r["lora"]["testAccuracyEnabled"], r["lora"]["testAccuracyDisabled"])]
for f in sys.argv[2:]:
    p = json.load(open(f))
    rows.append((f"PyTorch {p['torch_version']} ({p['threads']} threads)", p["full"]["epochSeconds"][0], p["lora"]["epochSeconds"][0],
                 p["full"]["testAccuracy"], p["lora"]["testAccuracyEnabled"], p["lora"]["testAccuracyDisabled"]))
print(f"{r['trainSamples']} training and {r['testSamples']} test images, batch {r['batchSize']}, seed {r.get('seed', '?')}; "
      f"LoRA rank {r['lora']['rank']}, alpha {r['lora']['alpha']:g} on {', '.join(r['lora']['targets'])}")
print()
print("| run | full epoch s | LoRA epoch s | LoRA / full | accuracy full | LoRA on | LoRA off |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, full, lora, a, on, off in rows:
    print(f"| {name} | {full:.2f} | {lora:.2f} | {lora / full:.2f} | {100 * a:.2f} % | {100 * on:.2f} % | {100 * off:.2f} % |")
if len(rows) == 1:
    print("\nno PyTorch peer ran (see above): jrocm only")
else:
    fastest = min(rows[1:], key=lambda row: row[1])
    print(f"\njrocm full epoch {rows[0][1]:.2f} s vs PyTorch's fastest {fastest[1]:.2f} s "
          f"({'at most' if rows[0][1] <= fastest[1] else 'over'} the target); LoRA epoch {rows[0][2]:.2f} s vs {fastest[2]:.2f} s")
print(f"jrocm LoRA epoch / full epoch {rows[0][2] / rows[0][1]:.2f} (target ≤ 0.5; the full epoch includes the JIT warm-up)")
PY
  } | tee "$report"
  echo "wrote $report"
  exit 0
fi

echo "building benchmarks.jar ..."
"$JROCM_MVN" -B -ntp -q -DskipTests -Dmaven.source.skip -Dmaven.javadoc.skip package
jar=benchmarks/target/benchmarks.jar
java=(java)
# JMH itself uses sun.misc.Unsafe, which JDK 24+ warns about on every run.
[ "$(jrocm_jdk_version "$JAVA_HOME")" -ge 24 ] && java+=(--sun-misc-unsafe-memory-access=allow)
# The skinny GEMM kernels use the Vector API (an incubator module); JMH's forks inherit the flag.
java+=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
quiet_java() { "${java[@]}" "$@" 2> >(grep -v 'Using incubator modules' >&2); }

python=/usr/bin/python3
[ ${#torch_pythons[@]} -gt 0 ] || echo "no PyTorch peer found (Debian: apt-get install python3-torch; a 2.x: a venv with pip install torch, named in JROCM_TORCH_PYTHONS): jrocm only"
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -f "$tcmalloc" ] || { echo "no tcmalloc ($tcmalloc; Debian: libtcmalloc-minimal4): PyTorch's best run goes without it"; tcmalloc=; }

if [ $long = 1 ]; then
  steps=${2:-1500}
  report="$out/long.md"
  {
    echo "# Long run: the blog MLP, batch 8, random CIFAR-shaped batches, $steps steps"
    echo
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "## jrocm (StepWindows)"
    echo '```'
    quiet_java -cp "$jar" dev.jrocm.benchmarks.StepWindows 8 "$steps" 250 2>/dev/null
    echo '```'
    for py in ${torch_pythons[@]+"${torch_pythons[@]}"}; do
      for flush in "" --flush-denormal; do
        echo "## PyTorch ($py) ${flush:-flush-denormal off}"
        echo '```'
        env OMP_WAIT_POLICY=PASSIVE ${tcmalloc:+LD_PRELOAD=$tcmalloc} "$py" benchmarks/pytorch/step_windows.py --steps "$steps" $flush
        echo '```'
      done
    done
    echo "## The main job: 5 epochs of 250 steps (--limit-train 2000 --batch-size 8)"
    echo '```'
    run_out=$(mktemp -d)
    bash scripts/demo.sh --batch-size 8 --epochs 5 --lora-epochs 1 --limit-train 2000 --limit-test 1000 --out "$run_out" >/dev/null
    "$python" - "$run_out"/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['dataset']}, {r['trainSamples']} training images, batch {r['batchSize']}; {r['deviceDescription']}")
for i, e in enumerate(r["full"]["epochs"]):
    print(f"epoch {i}: {e['seconds']:.2f} s, {e['samplesPerSecond']:.1f} samples/s")
PY
    rm -rf "$run_out"
    echo '```'
  } | tee "$report"
  echo "wrote $report"
  exit 0
fi

jmh_opts=(-rf json)
pt_quick=()
if [ $quick = 1 ]; then
  jmh_opts+=(-wi 2 -i 3 -w 1 -r 1)
  pt_quick=(--target-seconds 3)
fi


gpu=$(quiet_java -Djava.awt.headless=true -cp "$jar" dev.jrocm.benchmarks.BenchInfo "$out/info.json")
rm -f "$out"/jrocm-gemm-*.json "$out"/jrocm-gpu-gemm.json "$out"/numpy-gemm-*.json "$out"/pytorch-*.json

# Which GEMM path runs which shapes: the skinny kernels take ≤ 16 rows of C (A not transposed);
# the naive loops only shapes that take under a second per call.
batch8_skinny=8x4096x3072:NT,8x2048x4096:NT,8x4096x2048:NN
naive_shapes=8x4096x3072:NT,8x4096x2048:NN,512x512x512:NN
gemm_runs() { # $1 = environment; runs the CPU GEMM paths (all of them in installed, CBLAS alone in best)
  local config=$1 envcmd
  if [ "$config" = installed ]; then envcmd=(env); else envcmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); fi
  echo "== $config: GEMM paths"
  if [ "$config" = installed ]; then
    "${envcmd[@]}" "${java[@]}" -jar "$jar" CpuGemmBenchmark -p path=cblas,java "${jmh_opts[@]}" -rff "$out/jrocm-gemm-$config.json" 2>/dev/null \
      | grep -E '^(Benchmark|CpuGemm)'
    "${envcmd[@]}" "${java[@]}" -jar "$jar" CpuGemmBenchmark -p path=skinny -p shape=$batch8_skinny "${jmh_opts[@]}" -rff "$out/jrocm-gemm-skinny.json" 2>/dev/null \
      | grep -E '^(Benchmark|CpuGemm)'
    "${envcmd[@]}" "${java[@]}" -jar "$jar" CpuGemmBenchmark -p path=naive -p shape=$naive_shapes "${jmh_opts[@]}" -rff "$out/jrocm-gemm-naive.json" 2>/dev/null \
      | grep -E '^(Benchmark|CpuGemm)'
  else
    "${envcmd[@]}" "${java[@]}" -jar "$jar" CpuGemmBenchmark -p path=cblas "${jmh_opts[@]}" -rff "$out/jrocm-gemm-$config.json" 2>/dev/null \
      | grep -E '^(Benchmark|CpuGemm)'
  fi
  if [ $have_numpy = 1 ]; then
    echo "== $config: numpy (the same GEMMs, and sgemv)"
    "${envcmd[@]}" "$python" benchmarks/numpy/gemm.py ${np_quick[@]+"${np_quick[@]}"} --json "$out/numpy-gemm-$config.json"
  fi
}
np_quick=()
[ $quick = 1 ] && np_quick=(--quick)
have_numpy=1
"$python" -c 'import numpy' 2>/dev/null || { have_numpy=0; echo "numpy is not installed for $python (Debian: apt-get install python3-numpy): no GEMM peer"; }

echo "== FFM call overhead"
"${java[@]}" -jar "$jar" FfmCallBenchmark "${jmh_opts[@]}" -rff "$out/jrocm-ffm.json" 2>/dev/null | grep -E '^(Benchmark|FfmCall)'
echo "== jrocm's own host work in a GPU training step (a driver that drops every launch)"
"${java[@]}" -jar "$jar" GpuStepHostBenchmark "${jmh_opts[@]}" -rff "$out/jrocm-gpuhost.json" 2>/dev/null \
  | grep -E '^(Benchmark|GpuStepHost)|launches'
if [ "$gpu" != none ]; then
  echo "== GPU GEMMs ($gpu)"
  "${java[@]}" -jar "$jar" GpuGemmBenchmark -p device="$gpu" "${jmh_opts[@]}" -rff "$out/jrocm-gpu-gemm.json" 2>/dev/null | grep -E '^(Benchmark|GpuGemm)'
else
  echo "== GPU GEMMs skipped: $(sed -n 's/.*"gpu_reason" *: *"\(.*\)".*/\1/p' "$out/info.json")"
fi

for config in installed best; do
  if [ $config = installed ] || [ $quick = 0 ]; then
    gemm_runs $config
  fi
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
  # Every PyTorch peer; in the best environment with flush-denormal off (PyTorch's default) and on.
  flushes=(off)
  [ $config = best ] && flushes=(off on)
  for py in ${torch_pythons[@]+"${torch_pythons[@]}"}; do
    v=$("$py" -c 'import torch; print(torch.__version__)')
    for flush in "${flushes[@]}"; do
      flag=()
      [ $flush = on ] && flag=(--flush-denormal)
      echo "== $config: PyTorch $v ($py), flush-denormal $flush"
      "${ptenv[@]}" "$py" benchmarks/pytorch/train_step.py --batch 8 64 256 ${pt_quick[@]+"${pt_quick[@]}"} "${flag[@]+"${flag[@]}"}" \
        --json "$out/pytorch-train-$config-torch$v-flush-$flush.json" >/dev/null
      "${ptenv[@]}" "$py" benchmarks/pytorch/lora_step.py --batch 8 64 ${pt_quick[@]+"${pt_quick[@]}"} "${flag[@]+"${flag[@]}"}" \
        --json "$out/pytorch-lora-$config-torch$v-flush-$flush.json" >/dev/null
    done
  done
done

/usr/bin/python3 benchmarks/summarize.py "$out"
quiet_java -Djava.awt.headless=true -cp "$jar" dev.jrocm.benchmarks.GemmPlot "$out/summary.json" "$out/gemm.png"
echo "wrote $out/summary.md, $out/summary.json and $out/gemm.png"
