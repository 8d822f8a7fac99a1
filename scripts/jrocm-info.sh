#!/usr/bin/env bash
# Prints every jrocm backend (hip, cuda, cpu): available or not and why, the native libraries
# behind each, and the device jrocm would use. Builds jrocm first when the sources changed.
#   scripts/jrocm-info.sh --check   also runs a second of ops on that device against the CPU
#                                   backend (exit status 1 if one differs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
jrocm_build_if_needed
exec java "${JROCM_JAVA_OPTS[@]}" -p "$(jrocm_module_path)" \
  -m dev.jrocm.samples/dev.jrocm.samples.Info "$@"
