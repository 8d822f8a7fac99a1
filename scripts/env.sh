# Sourced by every jrocm script: finds a JDK 22+ and exports JAVA_HOME and PATH for it.
# Order: $JAVA_HOME, the `java` on PATH, then the newest JDK 22+ under /usr/lib/jvm (and
# /opt/java, ~/.sdkman, ~/.jdks). Stops with a clear message when there is none.
# Also sets JROCM_ROOT (the repository), JROCM_NATIVE_ACCESS (modules that call native code) and
# JROCM_MVN (the `mvn` on PATH, else the repository's Maven wrapper).

JROCM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export JROCM_ROOT
export JROCM_NATIVE_ACCESS=dev.jrocm.bindings,dev.jrocm.runtime
# The JVM options every jrocm program runs with: native access for the modules that call native
# code, and the incubating Vector API for the CPU's batch-8 GEMM kernels (the JVM notes its use
# with one line on stderr).
JROCM_JAVA_OPTS=(--enable-native-access="$JROCM_NATIVE_ACCESS" --add-modules jdk.incubator.vector)
JROCM_MIN_JAVA=22

# Feature version (e.g. 25) of the JDK at $1, or nothing if it is not a JDK.
jrocm_jdk_version() {
  local home=$1 v=""
  [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || return 0
  if [ -f "$home/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
  fi
  if [ -z "$v" ]; then
    v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  fi
  echo "$v"
}

jrocm_find_jdk() {
  local cand v best="" best_v=0
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(jrocm_jdk_version "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge $JROCM_MIN_JAVA ]; then echo "$JAVA_HOME"; return 0; fi
  fi
  if command -v java >/dev/null 2>&1; then
    cand=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    v=$(jrocm_jdk_version "$cand")
    if [ -n "$v" ] && [ "$v" -ge $JROCM_MIN_JAVA ]; then echo "$cand"; return 0; fi
  fi
  for cand in /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -d "$cand" ] || continue
    v=$(jrocm_jdk_version "$cand")
    if [ -n "$v" ] && [ "$v" -ge $JROCM_MIN_JAVA ] && [ "$v" -gt "$best_v" ]; then
      best=$cand; best_v=$v
    fi
  done
  [ -n "$best" ] && echo "$best"
}

JROCM_JDK=$(jrocm_find_jdk || true)
if [ -z "$JROCM_JDK" ]; then
  {
    echo "jrocm needs a JDK $JROCM_MIN_JAVA or newer, and none was found."
    echo "  looked at: JAVA_HOME=${JAVA_HOME:-<unset>}, java on PATH ($(command -v java || echo none)), /usr/lib/jvm/*, /opt/java/*"
    echo "  install one, e.g. Temurin 25 from https://adoptium.net, or on Debian/Ubuntu: apt install openjdk-25-jdk"
    echo "  then run again, or point JAVA_HOME at it."
  } >&2
  return 1 2>/dev/null || exit 1
fi
export JAVA_HOME=$JROCM_JDK
export PATH="$JAVA_HOME/bin:$PATH"
unset JROCM_JDK

# Maven: the `mvn` on PATH, else ./mvnw, which fetches the Maven that .mvn/wrapper names from
# Maven Central once (into ~/.m2/wrapper) and checks its SHA-256.
if command -v mvn >/dev/null 2>&1; then
  JROCM_MVN=mvn
else
  JROCM_MVN="$JROCM_ROOT/mvnw"
fi

# The module path of the built samples and everything they need.
jrocm_module_path() {
  local jar
  jar=$(ls "$JROCM_ROOT"/samples/target/jrocm-samples-*.jar 2>/dev/null | head -n 1)
  echo "$JROCM_ROOT/samples/target/lib:$jar"
}

# Builds the jars (no tests) when none are there or a source, pom or script changed since the
# last build; one line says so. Later runs skip it.
jrocm_build_if_needed() {
  local stamp="$JROCM_ROOT/samples/target/.jrocm-built"
  if [ -f "$stamp" ] && [ -z "$(find "$JROCM_ROOT" -path "$JROCM_ROOT/.git" -prune -o \
        \( -name '*.java' -o -name 'pom.xml' -o -path '*/src/main/resources/*' \) -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "building jrocm (first run, or sources changed) ..." >&2
  local log
  log=$(mktemp)
  # the sources and javadoc jars are for publishing; a run needs only the classes
  if ! (cd "$JROCM_ROOT" && "$JROCM_MVN" -B -ntp -q -DskipTests -Dmaven.source.skip -Dmaven.javadoc.skip \
        package >"$log" 2>&1); then
    cat "$log" >&2; rm -f "$log"
    echo "jrocm: the build failed (output above)" >&2
    return 1
  fi
  rm -f "$log"
  touch "$stamp"
}

# Maven 3.8's bundled Guava uses sun.misc.Unsafe, which JDK 24+ warns about on every run
# (the flag that quiets it does not exist before JDK 23).
if [ "$(jrocm_jdk_version "$JAVA_HOME")" -ge 24 ]; then
  case " ${MAVEN_OPTS:-} " in
    *sun-misc-unsafe-memory-access*) ;;
    *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
  esac
fi
