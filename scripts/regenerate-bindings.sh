#!/usr/bin/env bash
# Regenerates every package under bindings/src/main/java/dev/jrocm/bindings with jextract.
#
#   scripts/regenerate-bindings.sh [--rocm DIR] [--cuda DIR] [--cblas DIR] [--only LIB]...
#
#   --rocm DIR   an include root holding hip/, hipblas/, hipblas-common/, miopen/
#                (default: $ROCM_PATH/include, ROCM_PATH defaults to /opt/rocm)
#   --cuda DIR   an include root holding cuda.h, nvrtc.h, cublas_v2.h
#                (default: $CUDA_PATH/include, CUDA_PATH defaults to /usr/local/cuda)
#   --cblas DIR  the folder holding OpenBLAS's cblas.h (default: /usr/include/<multiarch>)
#   --only LIB   regenerate just this package (hip, hiprtc, hipblas, miopen, cuda, nvrtc, cublas, cblas)
#
# Needs `jextract` on PATH (or JEXTRACT=/path/to/jextract) whose output compiles at --release 22:
# jextract's jdk22 line, or openjdk/jextract master up to 0b89a46 (later commits call
# SymbolLookup.findOrThrow, which is JDK 23+). Set HEADERS_NOTE to say where the headers came
# from; it is written into each package-info.java with the versions read from the headers.
#
# What jextract binds is listed in scripts/jextract/<lib>.args (started from --dump-includes,
# trimmed); the header it reads and its include root are the "# header:" / "# root:" lines there.
# No --library is given: the runtime's probe System.load()s the file it found, and the generated
# code resolves symbols through the loader lookup, so no generated class can be touched before a
# probe has said its library is present.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args_dir="$top/scripts/jextract"
out_root="$top/bindings/src/main/java"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

rocm_inc="${ROCM_PATH:-/opt/rocm}/include"
cuda_inc="${CUDA_PATH:-/usr/local/cuda}/include"
cblas_inc="/usr/include/$multiarch"
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rocm) rocm_inc="$2"; shift 2 ;;
    --cuda) cuda_inc="$2"; shift 2 ;;
    --cblas) cblas_inc="$2"; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "regenerate-bindings: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

die() { echo "regenerate-bindings: $*" >&2; exit 1; }

jextract="${JEXTRACT:-$(command -v jextract || true)}"
[ -n "$jextract" ] && [ -x "$jextract" ] ||
  die "jextract is not on PATH (nor JEXTRACT set). Build it from https://github.com/openjdk/jextract (see the header of this script for which revision)."
jx_version=$("$jextract" --version 2>&1 | tr '\n' ' ' | sed 's/  */ /g')

# Our stand-ins for CMake-generated ROCm headers come *after* the real roots: a real install wins.
shim="$args_dir/shim"

macro() { # macro FILE NAME -> value of '#define NAME value', or empty
  [ -f "$1" ] && sed -n "s/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}$2[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p" "$1" | head -n 1 || true
}
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; }

version_of() { # LIB -> human-readable version of the headers it is generated from
  case "$1" in
    hip|hiprtc|miopen)
      local f; f=$(first_file "$rocm_inc/hip/hip_version.h" "$shim/hip/hip_version.h")
      echo "HIP $(macro "$f" HIP_VERSION_MAJOR).$(macro "$f" HIP_VERSION_MINOR).$(macro "$f" HIP_VERSION_PATCH) headers" ;;
    hipblas)
      local f; f=$(first_file "$rocm_inc/hipblas/hipblas-version.h" "$shim/hipblas/hipblas-version.h")
      echo "hipBLAS $(macro "$f" hipblasVersionMajor).$(macro "$f" hipblasVersionMinor).$(macro "$f" hipblasVersionPatch) headers" ;;
    cuda) echo "CUDA_VERSION $(macro "$cuda_inc/cuda.h" CUDA_VERSION)" ;;
    nvrtc) echo "nvrtc.h of CUDA $(macro "$cuda_inc/cuda.h" CUDA_VERSION) include root (NVRTC has no version macro)" ;;
    cublas) echo "cuBLAS $(macro "$cuda_inc/cublas_api.h" CUBLAS_VER_MAJOR).$(macro "$cuda_inc/cublas_api.h" CUBLAS_VER_MINOR).$(macro "$cuda_inc/cublas_api.h" CUBLAS_VER_PATCH) headers" ;;
    cblas) echo "OpenBLAS $(macro "$cblas_inc/openblas_config.h" OPENBLAS_VERSION | tr -d '"') cblas.h" ;;
  esac
}

libs=(hip hiprtc hipblas miopen cuda nvrtc cublas cblas)
[ ${#only[@]} -gt 0 ] && libs=("${only[@]}")

for lib in "${libs[@]}"; do
  argfile="$args_dir/$lib.args"
  [ -f "$argfile" ] || die "no args file $argfile (known: hip hiprtc hipblas miopen cuda nvrtc cublas cblas)"
  header=$(sed -n 's/^# header: *//p' "$argfile")
  root=$(sed -n 's/^# root: *//p' "$argfile")
  includes=()
  case "$root" in
    rocm)  inc="$rocm_inc"; includes=(-I "$rocm_inc" -I "$shim" -I "$shim/hipblas") ;;
    cuda)  inc="$cuda_inc"; includes=(-I "$cuda_inc") ;;
    cblas) inc="$cblas_inc"; includes=(-I "$cblas_inc") ;;
    *) die "$argfile: unknown '# root: $root'" ;;
  esac
  [ -d "$inc" ] || die "$lib: include root $inc does not exist (pass --$root DIR)"
  # A header of ours (the MIOpen wrapper) sits beside the args files; the rest are the vendor's.
  if [ -f "$args_dir/$header" ]; then path="$args_dir/$header"; else path="$inc/$header"; fi
  [ -f "$path" ] || die "$lib: header $header not found in $inc (pass --$root DIR)"

  pkg_dir="$out_root/dev/jrocm/bindings/$lib"
  echo "== $lib: $path"
  rm -rf "$pkg_dir"
  log=$(mktemp)
  if ! "$jextract" "${includes[@]}" --output "$out_root" "@$argfile" "$path" >"$log" 2>&1; then
    cat "$log" >&2; die "$lib: jextract failed"
  fi
  grep -v 'warning: Skipping' "$log" || true
  rm -f "$log"
  [ -n "$(ls "$pkg_dir"/*.java 2>/dev/null)" ] || die "$lib: jextract wrote nothing to $pkg_dir"

  cat > "$pkg_dir/package-info.java" <<EOF
/**
 * Generated by jextract from {@code $header}: $(version_of "$lib").
 * ${HEADERS_NOTE:-}
 *
 * <p>Symbols: {@code scripts/jextract/$lib.args}. Regenerate with
 * {@code scripts/regenerate-bindings.sh}; never edit by hand. No library is named at generation:
 * jrocm's probe loads the file it found and symbols resolve through the loader lookup, so nothing
 * here may be touched before that probe has succeeded.
 *
 * <p>jextract: $jx_version
 */
package dev.jrocm.bindings.$lib;
EOF
done
echo "done: $(find "$out_root/dev/jrocm/bindings" -name '*.java' | wc -l) files under $out_root/dev/jrocm/bindings"
