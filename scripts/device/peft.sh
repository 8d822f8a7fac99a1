#!/usr/bin/env bash
# jrocm's LoRA adapters and Hugging Face PEFT's, each loaded by the other, on a machine where
# python3 has torch, peft and safetensors (the lent GPU machine; the check itself runs on the CPU):
#
#   bash scripts/device/peft.sh DIR [JAVA JAR]
#   e.g. bash scripts/device/peft.sh "$OUT/peft" .gpu-pack/jre/bin/java .gpu-pack/benchmarks.jar
#   or, here, with a Python that has peft:  PYTHON=/venv/bin/python3 bash scripts/device/peft.sh /tmp/peft
#   (without JAVA and JAR: the JDK scripts/env.sh finds and benchmarks.jar, built if needed)
#
# 1. PeftInterop write DIR: jrocm saves a base MLP, an adapter (PEFT's layout), inputs, its outputs;
# 2. peft_interop.py check-jrocm DIR: PeftModel.from_pretrained loads jrocm's adapter, same outputs?
# 3. peft_interop.py write-peft DIR: PEFT's save_pretrained writes an adapter and PEFT's outputs;
# 4. PeftInterop read DIR: jrocm's PeftAdapter loads PEFT's adapter, same outputs?
# Every step that can run runs (4 needs 3, and 2 and 3 need 1); exit status 1 if any failed.
# Takes about 20 s. Paths are taken as given, relative to the current folder.
set -u
if [ $# -eq 1 ]; then
  # shellcheck source=../env.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../env.sh" || exit 2
  jrocm_build_if_needed || exit 2
  set -- "$1" "$JAVA_HOME/bin/java" "$JROCM_ROOT/benchmarks/target/benchmarks.jar"
fi
if [ $# -ne 3 ]; then
  echo "usage: $0 DIR [JAVA JAR]" >&2
  exit 2
fi
dir=$1 java=$2 jar=$3
python=${PYTHON:-python3}
script="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lora/src/test/python/peft_interop.py"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
java_opts=(--enable-native-access=ALL-UNNAMED)
# the CPU backend's few-row GEMM uses the Vector API; a runtime jlinked without it still runs
if "$java" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector@'; then
  java_opts+=(--add-modules jdk.incubator.vector)
fi

mkdir -p "$dir"
# a file left from an earlier run must not stand in for one this run failed to write
rm -rf "$dir/base.safetensors" "$dir/inputs.safetensors" "$dir/jrocm_adapter" "$dir/jrocm_expected.safetensors" \
       "$dir/peft_adapter" "$dir/peft_expected.safetensors"

failed=()
step() {  # step NAME COMMAND...: runs it with its output, records a failure
  local name=$1 rc
  shift
  echo "== $name"
  timeout 120 "$@" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
  return "$rc"
}
skip() {
  echo "== $1"
  echo "skipped: $2"
  failed+=("$1 (skipped)")
}

echo "== versions"
"$python" -c 'import peft; print(peft.__version__)' 2>&1 | sed 's/^/peft /'
"$python" -c 'import torch, safetensors; print("torch", torch.__version__, "safetensors", safetensors.__version__)' 2>&1
"$java" -version 2>&1 | head -n 1

if step "1. jrocm writes an adapter" "$java" "${java_opts[@]}" -cp "$jar" dev.jrocm.benchmarks.PeftInterop write "$dir"; then
  step "2. PEFT loads jrocm's adapter" "$python" "$script" check-jrocm "$dir"
  if step "3. PEFT writes an adapter" "$python" "$script" write-peft "$dir"; then
    step "4. jrocm loads PEFT's adapter" "$java" "${java_opts[@]}" -cp "$jar" dev.jrocm.benchmarks.PeftInterop read "$dir"
  else
    skip "4. jrocm loads PEFT's adapter" "PEFT wrote no adapter"
  fi
else
  skip "2. PEFT loads jrocm's adapter" "jrocm wrote no files"
  skip "3. PEFT writes an adapter" "jrocm wrote no base model"
  skip "4. jrocm loads PEFT's adapter" "jrocm wrote no base model"
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "PEFT interop: PASSED (4 of 4 steps)"
  exit 0
fi
list=$(printf '%s; ' "${failed[@]}")
echo "PEFT interop: FAILED: ${list%; }"
exit 1
