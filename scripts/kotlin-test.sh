#!/usr/bin/env bash
# Kotlin binding tests on the JVM (no Android SDK, no Gradle):
#   generated Kotlin (uniffi-bindgen, library mode) + android/src/main/kotlin (hand-written wrappers)
#   + android/src/test/kotlin (JUnit 4 tests), compiled with kotlinc and run with JUnitCore against
#   the host-built libfieldsync_ffi.so through JNA.
#
# Does NOT build Rust: build first (the Makefile does), e.g.
#   cargo build -p fieldsync-ffi          # -> target/debug/libfieldsync_ffi.so + uniffi-bindgen
#
# Environment (all optional):
#   FIELDSYNC_CDYLIB   the cdylib                 (default: target/debug/libfieldsync_ffi.so)
#   UNIFFI_BINDGEN     the uniffi-bindgen binary  (default: uniffi-bindgen next to the cdylib)
#   TOOLCHAIN_DIR      toolchain cache            (default: ~/.cache/fieldsync-toolchain)
#   KOTLIN_VERSION     npm kotlin-compiler version (default: 2.4.20)
#   KOTLIN_BUILD_DIR   build output               (default: build/kotlin)
#   TEST_CLASSES       space-separated test classes to run (default: every top-level class named
#                      *Test or *Tests in android/src/test/kotlin)
#
# Installs only what is missing: Debian libjna-java + junit4 (JNA 5.13, JUnit 4.13.2, hamcrest),
# a JRE, and kotlinc from the npm package kotlin-compiler into $TOOLCHAIN_DIR/kotlin.
# Last line: "N passed, N failed"; exit code is JUnit's (non-zero on any failure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TOOLCHAIN_DIR:-$HOME/.cache/fieldsync-toolchain}
KVER=${KOTLIN_VERSION:-2.4.20}
CDYLIB=${FIELDSYNC_CDYLIB:-$ROOT/target/debug/libfieldsync_ffi.so}
BINDGEN=${UNIFFI_BINDGEN:-$(dirname "$CDYLIB")/uniffi-bindgen}
OUT=${KOTLIN_BUILD_DIR:-$ROOT/build/kotlin}
MAIN_SRC=$ROOT/android/src/main/kotlin
TEST_SRC=$ROOT/android/src/test/kotlin
SAMPLE_SRC=$ROOT/android/samples   # compiled and run (SurveySampleTest) like the tests

ms() { date +%s%3N; }
die() { echo "kotlin-test: error: $*" >&2; exit 1; }
t_start=$(ms)

# --- 0) inputs: never build them here -----------------------------------------------------------
[ -f "$CDYLIB" ] || die "cdylib not found: $CDYLIB
  build it first (e.g. 'cargo build -p fieldsync-ffi' or the Makefile), or set FIELDSYNC_CDYLIB"
[ -x "$BINDGEN" ] || die "uniffi-bindgen not found: $BINDGEN
  it is built with the cdylib ('cargo build -p fieldsync-ffi'), or set UNIFFI_BINDGEN"
[ -d "$TEST_SRC" ] || die "no test sources in $TEST_SRC"

# --- 1) toolchain (idempotent) ------------------------------------------------------------------
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing Debian packages ($*) and not root: apt-get install $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
need=()
dpkg -s libjna-java >/dev/null 2>&1 || need+=(libjna-java)
dpkg -s junit4 >/dev/null 2>&1 || need+=(junit4)
command -v java >/dev/null || need+=(default-jre-headless)
command -v npm >/dev/null || [ -x "$TC/kotlin/package/bin/kotlinc" ] || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "kotlin-test: installing ${need[*]}"
  apt_install "${need[@]}"
fi
KOTLINC=$TC/kotlin/package/bin/kotlinc
KLIB=$TC/kotlin/package/lib
if [ ! -x "$KOTLINC" ]; then
  echo "kotlin-test: installing kotlinc $KVER (npm kotlin-compiler) into $TC/kotlin"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kotlinc.XXXXXX")
  (cd "$tmp" && npm pack --silent "kotlin-compiler@$KVER" >/dev/null && tar xzf "kotlin-compiler-$KVER.tgz")
  mkdir -p "$TC/kotlin"
  rm -rf "$TC/kotlin/package"
  mv "$tmp/package" "$TC/kotlin/package"    # move into place last: a half-done install is never used
  rm -rf "$tmp"
fi
JAVA_SHARE=/usr/share/java
for j in "$JAVA_SHARE/jna.jar" "$JAVA_SHARE/junit4.jar" "$JAVA_SHARE/hamcrest.jar" \
         "$KLIB/kotlinx-coroutines-core-jvm.jar" "$KLIB/kotlin-stdlib.jar" "$KLIB/kotlin-test.jar"; do
  [ -f "$j" ] || die "missing $j"
done

# --- 2) generate Kotlin bindings (library mode) -------------------------------------------------
# Run from the workspace root: uniffi-bindgen calls `cargo metadata` (read-only, no build lock) to
# find bindings/uniffi.toml by itself. No --config: in uniffi 0.32 --config takes a *global*
# config file, and the crate's flat uniffi.toml passed there is ignored with a warning.
rm -rf "$OUT"
mkdir -p "$OUT/generated" "$OUT/classes" "$OUT/lib"
cd "$ROOT"
"$BINDGEN" generate --no-format --metadata-no-deps --library "$CDYLIB" \
    --language kotlin --out-dir "$OUT/generated"
GEN_FILES=$(find "$OUT/generated" -name '*.kt' | sort)
[ -n "$GEN_FILES" ] || die "uniffi-bindgen generated no Kotlin from $CDYLIB"
perl "$ROOT/scripts/kotlin-postprocess.pl" "$OUT/generated/org/fieldsync/fieldsync_ffi.kt"
echo "kotlin-test: generated $(echo "$GEN_FILES" | sed "s|$OUT/generated/||" | tr '\n' ' ')"

# JNA loads lib<cdylib_name>.so = libfieldsync_ffi.so: link it under that name whatever
# FIELDSYNC_CDYLIB is called.
ln -sf "$(readlink -f "$CDYLIB")" "$OUT/lib/libfieldsync_ffi.so"

# --- 3) compile generated + wrappers + tests in one kotlinc run ----------------------------------
CP_COMPILE=$JAVA_SHARE/jna.jar:$KLIB/kotlinx-coroutines-core-jvm.jar:$JAVA_SHARE/junit4.jar:$KLIB/kotlin-test.jar:$KLIB/kotlin-test-junit.jar
mapfile -t SRCS < <(echo "$GEN_FILES"; find "$MAIN_SRC" "$SAMPLE_SRC" "$TEST_SRC" -name '*.kt' 2>/dev/null | sort)
if grep -l '^import android\.' "${SRCS[@]}" >/dev/null 2>&1; then
  die "android.* imports in JVM-compiled sources (move them to android/src/main/kotlin-android): $(grep -l '^import android\.' "${SRCS[@]}" | tr '\n' ' ')"
fi
t=$(ms)
"$KOTLINC" -nowarn -jvm-target 17 -cp "$CP_COMPILE" -d "$OUT/classes" "${SRCS[@]}" \
  || die "kotlinc failed"
echo "kotlin-test: kotlinc $(( $(ms) - t )) ms (${#SRCS[@]} files)"

# --- 4) run JUnit 4 -----------------------------------------------------------------------------
if [ -n "${TEST_CLASSES:-}" ]; then
  read -r -a CLASSES <<< "$TEST_CLASSES"
else
  CLASSES=()
  while IFS= read -r f; do
    pkg=$(sed -n 's/^[[:space:]]*package[[:space:]]\+\([A-Za-z0-9_.]*\).*/\1/p' "$f" | head -n1)
    while IFS= read -r c; do
      [ -n "$c" ] || continue
      fq=${pkg:+$pkg.}$c
      [ -f "$OUT/classes/${fq//.//}.class" ] && CLASSES+=("$fq")
    done < <(sed -n 's/^\(\(public\|internal\|open\)[[:space:]]\+\)*class[[:space:]]\+\([A-Za-z0-9_]*Tests\?\)\b.*/\3/p' "$f")
  done < <(find "$TEST_SRC" -name '*.kt' | sort)
fi
[ ${#CLASSES[@]} -gt 0 ] || die "no test classes (*Test / *Tests) found in $TEST_SRC"
echo "kotlin-test: running ${CLASSES[*]}"

CP_RUN=$OUT/classes:$CP_COMPILE:$KLIB/kotlin-stdlib.jar:$JAVA_SHARE/hamcrest.jar
t=$(ms)
set +e
java -Djna.library.path="$OUT/lib" -cp "$CP_RUN" org.junit.runner.JUnitCore "${CLASSES[@]}" \
  2>&1 | tee "$OUT/junit.out"
rc=${PIPESTATUS[0]}
set -e
echo "kotlin-test: junit $(( $(ms) - t )) ms, total $(( $(ms) - t_start )) ms"

# JUnitCore prints "OK (N tests)" or "Tests run: N,  Failures: M"; CI reads "N passed, N failed".
summary=$(awk '/^OK \(/{gsub(/[^0-9]/,"",$2); print $2" passed, 0 failed"}
               /^Tests run:/{gsub(/,/,""); print ($3-$5)" passed, "$5" failed"}' "$OUT/junit.out" | tail -n1)
if [ -z "$summary" ]; then
  echo "kotlin-test: JUnit printed no summary (exit $rc)" >&2
  [ "$rc" -ne 0 ] || rc=1
else
  echo "$summary"
fi
exit "$rc"
