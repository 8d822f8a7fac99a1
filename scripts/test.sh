#!/usr/bin/env bash
# Runs jrocm's whole test suite (every module) on the JDK 22+ that scripts/env.sh finds.
# Extra arguments go to Maven, e.g.  scripts/test.sh -pl runtime -Dtest=CpuGemmTest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$JROCM_ROOT"
echo "jrocm tests on $(java -version 2>&1 | head -n 1) ($JAVA_HOME)"
exec "$JROCM_MVN" -B -ntp verify "$@"
