#!/usr/bin/env bash
# The main job: the ROCm blog's LoRA workflow (train an MLP, apply rank-1 LoRA, freeze, fine-tune,
# compare), printing what the blog prints and writing pictures and a report into out/<timestamp>.
#   scripts/demo.sh [options]       scripts/demo.sh --help lists them
# Builds jrocm first when needed, finds a JDK 22+ (scripts/env.sh), passes its arguments on.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# No cd: relative --out and --data-dir mean the caller's folder (env.sh's functions use absolute paths).

# No dataset anywhere and no way to download one (no internet here)? Debian packages Fashion-MNIST.
want_data=1
for a in "$@"; do
  case "$a" in -h|--help|-V|--version|--dataset=cifar10) want_data=0 ;; esac
done
if [ $want_data = 1 ] && [ ! -d data/cifar-10-batches-bin ] && [ ! -d "${JROCM_DATA:-/nonexistent}" ] \
   && [ ! -d "$HOME/.jrocm/data/cifar-10-batches-bin" ] && [ ! -d /usr/share/datasets/fashion-mnist ] \
   && [ ! -d data/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "no dataset found: installing Debian's dataset-fashion-mnist (30 MB) with apt-get ..."
    (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null; }) ||
      echo "could not install dataset-fashion-mnist; jrocm will try to download CIFAR-10 instead"
  fi
fi

jrocm_build_if_needed
exec java "${JROCM_JAVA_OPTS[@]}" -p "$(jrocm_module_path)" \
  -m dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow "$@"
