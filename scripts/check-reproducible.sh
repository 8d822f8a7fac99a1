#!/usr/bin/env bash
# Checks that the published jars are reproducible: builds bindings, runtime and lora (jar, sources
# jar, javadoc jar; no tests) twice, each from its own copy of the working tree in its own
# temporary folder, and compares every jar byte for byte (SHA-256). Prints one line per jar and
# exits 1 when any differs; the copies are removed either way.
#
#   scripts/check-reproducible.sh
#
# Needs the JDK and Maven that scripts/env.sh finds, and Maven Central (or a filled ~/.m2).
# What makes the jars the same is project.build.outputTimestamp in the root pom.xml.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$JROCM_ROOT"

modules=(bindings runtime lora)
work=$(mktemp -d "${TMPDIR:-/tmp}/jrocm-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One build in a copy of the tracked and not-ignored files (so no earlier target/ is reused) at
# $work/$1; its own path on purpose, so a jar that records where it was built differs.
build() {
  local dir="$work/$1" log="$work/$1.log"
  mkdir -p "$dir"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | (cd "$JROCM_ROOT" && xargs -0 cp --parents -t "$dir")
  local mvn=$JROCM_MVN
  [ "$mvn" = mvn ] || mvn="$dir/mvnw"
  if ! (cd "$dir" && "$mvn" -B -ntp -DskipTests -pl "$(IFS=,; echo "${modules[*]}")" package >"$log" 2>&1); then
    cat "$log" >&2
    echo "check-reproducible: build $1 failed (output above)" >&2
    exit 1
  fi
}

echo "building ${modules[*]} twice (no tests) ..."
build first
build second

differ=0 count=0
for m in "${modules[@]}"; do
  for jar in "$work/first/$m/target/"*.jar; do
    name=$(basename "$jar")
    other="$work/second/$m/target/$name"
    a=$(sha256sum "$jar" | cut -d' ' -f1)
    b=$( [ -f "$other" ] && sha256sum "$other" | cut -d' ' -f1 || echo missing)
    count=$((count + 1))
    if [ "$a" = "$b" ]; then
      echo "same     $m/target/$name  $a"
    else
      echo "DIFFERS  $m/target/$name  $a vs $b"
      differ=$((differ + 1))
    fi
  done
done
if [ "$count" -eq 0 ]; then
  echo "check-reproducible: the builds made no jars" >&2
  exit 1
fi
if [ "$differ" -gt 0 ]; then
  echo "check-reproducible: $differ of $count jars differ between two builds of the same sources"
  exit 1
fi
echo "check-reproducible: all $count jars are byte for byte the same"
