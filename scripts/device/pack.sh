#!/usr/bin/env bash
# Builds, here, what scripts/device/check.sh needs on the lent GPU machine, which has no Java:
#
#   .gpu-pack/benchmarks.jar  jrocm and everything it needs (GpuCheck's main), from `mvn package`
#   .gpu-pack/jre/            a jlinked Java runtime with just the modules that jar uses (jdeps)
#
# .gpu-pack/ is ignored by git; the device tool carries it: run(carry=[".gpu-pack"], ...).
# See docs/GPU.md. Needs the JDK that scripts/env.sh finds (jdeps and jlink come with it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../env.sh
source "$root/scripts/env.sh"
pack="$root/.gpu-pack"
cd "$root"

echo "== building the jars (mvn package, no tests)"
"$JROCM_MVN" -B -ntp -q -DskipTests -Dmaven.source.skip -Dmaven.javadoc.skip package

rm -rf "$pack"
mkdir -p "$pack"
cp benchmarks/target/benchmarks.jar "$pack/"

echo "== modules"
# jdeps over the shaded jar names what every class in it might use, JMH and Jackson's optional
# java.beans/java.sql support included (java.desktop alone is ~12 MiB); GpuCheck uses neither, so
# the list is ours, checked against jdeps of jrocm's own classes and GpuCheck here.
# jdk.incubator.vector: the CPU backend's few-row GEMM (check.sh adds it with --add-modules).
modules=java.base,java.logging,java.net.http,jdk.unsupported,jdk.zipfs,jdk.incubator.vector
needed=$(jdeps --multi-release 22 --ignore-missing-deps --print-module-deps \
           -include 'dev\.jrocm\.(runtime|lora|bindings)\..*|dev\.jrocm\.benchmarks\.(GpuCheck|ProfilingDriver|PeftInterop).*' "$pack/benchmarks.jar")
for m in ${needed//,/ }; do
  case ",$modules," in *",$m,"*) ;; *) echo "pack.sh: jrocm needs module $m; add it to the list" >&2; exit 1 ;; esac
done
echo "   $modules"

echo "== jlink"
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=zip-9 \
      --output "$pack/jre"
"$pack/jre/bin/java" -version 2>&1 | head -n 1
echo "$modules" > "$pack/modules.txt"
git -C "$root" rev-parse --short HEAD > "$pack/commit.txt" 2>/dev/null || echo unknown > "$pack/commit.txt"
if ! git -C "$root" diff --quiet 2>/dev/null; then echo "(with uncommitted changes)" >> "$pack/commit.txt"; fi
du -sh "$pack" "$pack/jre" "$pack/benchmarks.jar"
size=$(du -sm "$pack" | cut -f1)
if [ "$size" -gt 56 ]; then
  echo "pack.sh: $pack is ${size} MiB; the device tool carries at most 64 MiB with the working tree" >&2
  exit 1
fi
echo "ready: run scripts/device/check.sh on the device with carry [\".gpu-pack\"] (docs/GPU.md)"
