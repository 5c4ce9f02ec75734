#!/usr/bin/env bash
# Release artifacts of the mobile packages (`make release`), for the version in Cargo.toml
# (`[workspace.package] version`):
#
#   Android  org.fieldsync:fieldsync-android:<version> (AAR with the release-small .so files,
#            sources + javadoc jars, POM, Gradle module metadata) published into the Maven
#            repository directory build/release/maven (Gradle task
#            publishReleasePublicationToLocalReleaseRepository, -PfieldsyncRepo=<dir>).
#            Needs: Android SDK (ANDROID_HOME or ANDROID_SDK_ROOT), an NDK (ANDROID_NDK_HOME or
#            $ANDROID_HOME/ndk/<version>), a JDK 17+, cargo + cargo-ndk, and android/gradlew or a
#            `gradle` (>= 8.9) on PATH.
#   iOS      ios/FieldSyncFFI.xcframework.zip (ZIP=1 PROFILE=release-small ios/build-xcframework.sh),
#            then its SwiftPM checksum and the release URL written into the root Package.swift
#            (`let releaseURL = "..."`, `let releaseChecksum = "..."`). Needs macOS with Xcode.
#
# What this machine cannot build is skipped with a message saying what is missing and how to
# install it; the last lines summarise what was built and what was skipped.
# Exit status: 0 when everything that could be attempted succeeded (also when everything was
# skipped); 1 when an attempted build failed, or when nothing was built and RELEASE_STRICT=1.
#
# Environment (all optional):
#   RELEASE_STRICT=1     fail (exit 1) when neither Android nor iOS could be built
#   RELEASE_MAVEN_DIR    Maven repository directory (default: build/release/maven)
#   CARGO                cargo to use (default: cargo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CARGO=${CARGO:-cargo}
MAVEN_DIR=${RELEASE_MAVEN_DIR:-$ROOT/build/release/maven}
case $MAVEN_DIR in /*) ;; *) MAVEN_DIR=$ROOT/$MAVEN_DIR ;; esac
GROUP_PATH=org/fieldsync
ARTIFACT=fieldsync-android
GRADLE_TASK=publishReleasePublicationToLocalReleaseRepository
GROUP_ID_COORD= # org.fieldsync:fieldsync-android:<version>, set below
ANDROID_TARGETS="aarch64-linux-android armv7-linux-androideabi x86_64-linux-android"
XCF_ZIP=$ROOT/ios/FieldSyncFFI.xcframework.zip
MANIFEST=$ROOT/Package.swift

# Summary lines, one per built / skipped / failed part (plain strings: macOS bash 3.2 has
# trouble with empty arrays under `set -u`).
BUILT=""
SKIPPED=""
FAILED=""
NEXT_STEPS=""
add() { # add VAR line
  local cur=${!1}
  printf -v "$1" '%s%s\n' "$cur" "$2"
}

say() { printf 'release: %s\n' "$*"; }
missing() { printf 'release:   MISSING %s\n' "$*"; }

# `key = "value"` of the [workspace.package] table of Cargo.toml
workspace_field() {
  sed -n '/^\[workspace\.package\]/,/^\[/{
    s/^[[:space:]]*'"$1"'[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p
  }' "$ROOT/Cargo.toml" | head -n 1
}

VERSION=$(workspace_field version)
if [ -z "$VERSION" ]; then
  echo "release: no version = \"...\" under [workspace.package] in $ROOT/Cargo.toml" >&2
  exit 1
fi
REPO_URL=$(workspace_field repository)
REPO_URL=${REPO_URL:-https://github.com/fieldsync/fieldsync}
REPO_URL=${REPO_URL%/}
GROUP_ID_COORD=org.fieldsync:$ARTIFACT:$VERSION
say "FieldSync $VERSION (Cargo.toml [workspace.package])"

# --- Android ------------------------------------------------------------------------------------

android_release() {
  say ""
  say "== Android: $GROUP_ID_COORD"
  local ok=1 lacking="" sdk why ndk_version ndk="" gradle_wrapper=0 java_bin java_version java_major

  # Android SDK
  sdk=${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}
  if [ -z "$sdk" ] || [ ! -d "$sdk" ]; then
    if [ -z "$sdk" ]; then why="ANDROID_HOME and ANDROID_SDK_ROOT unset"; else why="$sdk is not a directory"; fi
    missing "Android SDK not found ($why):" \
      "install Android Studio or the SDK command-line tools, accept the licenses" \
      "(sdkmanager --licenses), install platforms;android-35, and export ANDROID_HOME=<sdk dir>"
    ok=0; sdk=""; lacking="$lacking, Android SDK"
  fi

  # NDK: ANDROID_NDK_HOME, else the ndkVersion of build.gradle.kts, else any $sdk/ndk/*
  ndk_version=$(sed -n 's/^[[:space:]]*ndkVersion[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
    "$ROOT/android/build.gradle.kts" | head -n 1)
  if [ -n "${ANDROID_NDK_HOME:-}" ]; then
    if [ -d "$ANDROID_NDK_HOME" ]; then ndk=$ANDROID_NDK_HOME; fi
  elif [ -n "$sdk" ] && [ -d "$sdk/ndk/$ndk_version" ]; then
    ndk=$sdk/ndk/$ndk_version
  elif [ -n "$sdk" ] && [ -d "$sdk/ndk" ]; then
    # another NDK version: hand it to cargo-ndk explicitly (the newest one)
    ndk=$(find "$sdk/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)
    if [ -n "$ndk" ]; then
      say "NDK $ndk_version (ndkVersion) not installed; using $ndk"
      export ANDROID_NDK_HOME=$ndk
    fi
  fi
  if [ -z "$ndk" ]; then
    missing "Android NDK not found${ANDROID_NDK_HOME:+ (ANDROID_NDK_HOME=$ANDROID_NDK_HOME is not a directory)}:" \
      "install it with sdkmanager 'ndk;$ndk_version' or set ANDROID_NDK_HOME"
    ok=0; lacking="$lacking, NDK"
  fi

  # JDK 17+ (AGP 8.7)
  java_bin=java
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java_bin=$JAVA_HOME/bin/java; fi
  if ! command -v "$java_bin" >/dev/null 2>&1; then
    missing "JDK not found: install a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
    ok=0; lacking="$lacking, JDK 17+"
  else
    java_version=$("$java_bin" -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')
    java_major=${java_version%%.*}
    if [ "${java_major:-0}" = 1 ] || [ "${java_major:-0}" -lt 17 ] 2>/dev/null; then
      missing "JDK 17+ needed by the Android Gradle plugin 8.7; $java_bin is version ${java_version:-unknown}:" \
        "install a JDK 17+ and set JAVA_HOME"
      ok=0; lacking="$lacking, JDK 17+"
    fi
  fi

  # cargo + cargo-ndk
  if ! command -v "$CARGO" >/dev/null 2>&1; then
    missing "cargo not found: install Rust with rustup (https://rustup.rs)"
    ok=0; lacking="$lacking, cargo"
  elif ! "$CARGO" ndk --version >/dev/null 2>&1; then
    missing "cargo-ndk not found: cargo install cargo-ndk" \
      "(and rustup target add $ANDROID_TARGETS)"
    ok=0; lacking="$lacking, cargo-ndk"
  fi

  # Gradle: the wrapper if it was generated, else a gradle on PATH
  if [ -f "$ROOT/android/gradlew" ] && [ -f "$ROOT/android/gradle/wrapper/gradle-wrapper.jar" ]; then
    gradle_wrapper=1
  elif ! command -v gradle >/dev/null 2>&1; then
    missing "Gradle not found (no android/gradlew, no gradle on PATH): install Gradle >= 8.9" \
      "(AGP 8.7), or create the wrapper once with \`gradle wrapper --gradle-version 8.11.1\` in android/"
    ok=0; lacking="$lacking, Gradle"
  fi

  if [ "$ok" != 1 ]; then
    say "Android: skipped (see MISSING above)"
    add SKIPPED "Android AAR: skipped, missing ${lacking#, } (see MISSING lines above)"
    return 0
  fi

  export ANDROID_HOME=$sdk
  if command -v rustup >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # a list of targets
    rustup target add $ANDROID_TARGETS
  fi

  local out=$MAVEN_DIR/$GROUP_PATH/$ARTIFACT/$VERSION
  rm -rf "$out" # this version's files only: what is listed below was built now
  mkdir -p "$MAVEN_DIR"
  say "gradle $GRADLE_TASK -PfieldsyncRepo=$MAVEN_DIR"
  local gradle_status=0
  if [ "$gradle_wrapper" = 1 ]; then
    sh "$ROOT/android/gradlew" -p "$ROOT/android" --console=plain "$GRADLE_TASK" "-PfieldsyncRepo=$MAVEN_DIR" ||
      gradle_status=$?
  else
    gradle -p "$ROOT/android" --console=plain "$GRADLE_TASK" "-PfieldsyncRepo=$MAVEN_DIR" || gradle_status=$?
  fi
  if [ "$gradle_status" != 0 ]; then
    say "Android: the Gradle build FAILED"
    add FAILED "Android AAR: gradle $GRADLE_TASK failed (output above)"
    return 0
  fi
  if [ ! -d "$out" ]; then
    say "Android: Gradle succeeded but wrote nothing into $out"
    add FAILED "Android AAR: nothing in ${out#"$ROOT"/}"
    return 0
  fi

  say "produced:"
  (cd "$out" && find . -type f | sed 's|^\./||' | sort | while read -r f; do
    printf '  %s/%s (%s bytes)\n' "${out#"$ROOT"/}" "$f" "$(wc -c <"$f" | tr -d ' ')"
  done)

  # The POM must name JNA as an AAR (the jar has no Android libjnidispatch.so).
  local pom=$out/$ARTIFACT-$VERSION.pom
  # (the POM as one line, cut at </dependency>: portable to BSD awk, which has no regex RS)
  if [ -f "$pom" ] && tr '\n' ' ' <"$pom" | awk '{
        n = split($0, deps, "</dependency>")
        for (i = 1; i <= n; i++)
          if (index(deps[i], "<artifactId>jna</artifactId>") && index(deps[i], "<type>aar</type>")) found = 1
      } END { exit !found }'; then
    say "POM: JNA declared with <type>aar</type>"
  else
    say "POM: JNA is NOT declared with <type>aar</type> in $pom"
    add FAILED "Android AAR: the POM lacks JNA <type>aar</type>"
    return 0
  fi
  # The AAR must carry the three .so files.
  local aar=$out/$ARTIFACT-$VERSION.aar abi
  if command -v unzip >/dev/null 2>&1 && [ -f "$aar" ]; then
    for abi in arm64-v8a armeabi-v7a x86_64; do
      if ! unzip -l "$aar" "jni/$abi/libfieldsync_ffi.so" >/dev/null 2>&1; then
        say "AAR: jni/$abi/libfieldsync_ffi.so missing from $aar"
        add FAILED "Android AAR: no jni/$abi/libfieldsync_ffi.so"
        return 0
      fi
    done
    say "AAR: libfieldsync_ffi.so for arm64-v8a, armeabi-v7a, x86_64"
  fi

  add BUILT "Android AAR: $GROUP_ID_COORD in ${MAVEN_DIR#"$ROOT"/}"
  add NEXT_STEPS "Android: publish ${MAVEN_DIR#"$ROOT"/}/$GROUP_PATH/$ARTIFACT/$VERSION to the team's Maven repository (or serve the directory as one); apps use implementation(\"$GROUP_ID_COORD\")"
}

# --- iOS ----------------------------------------------------------------------------------------

ios_release() {
  say ""
  say "== iOS: FieldSyncFFI.xcframework.zip"
  if [ "$(uname -s)" != Darwin ]; then
    say "iOS: needs macOS with Xcode; skipped (this is $(uname -s))"
    add SKIPPED "iOS xcframework: skipped, needs macOS with Xcode"
    return 0
  fi
  local ok=1 lacking=""
  if ! xcodebuild -version >/dev/null 2>&1; then
    missing "Xcode not found (xcodebuild): install Xcode and select it with sudo xcode-select -s /Applications/Xcode.app"
    ok=0; lacking="$lacking, Xcode"
  fi
  if ! command -v swift >/dev/null 2>&1; then
    missing "swift not found (comes with Xcode): needed for swift package compute-checksum"
    ok=0; lacking="$lacking, swift"
  fi
  if ! command -v rustup >/dev/null 2>&1 || ! command -v "$CARGO" >/dev/null 2>&1; then
    missing "rustup/cargo not found: install Rust with rustup (https://rustup.rs)"
    ok=0; lacking="$lacking, rustup/cargo"
  fi
  if ! command -v zip >/dev/null 2>&1; then
    missing "zip not found"
    ok=0; lacking="$lacking, zip"
  fi
  if [ "$ok" != 1 ]; then
    say "iOS: needs macOS with Xcode; skipped (see MISSING above)"
    add SKIPPED "iOS xcframework: skipped, missing ${lacking#, } (see MISSING lines above)"
    return 0
  fi

  rm -f "$XCF_ZIP"
  if ! ZIP=1 PROFILE=release-small bash "$ROOT/ios/build-xcframework.sh"; then
    say "iOS: ios/build-xcframework.sh FAILED"
    add FAILED "iOS xcframework: ios/build-xcframework.sh failed (output above)"
    return 0
  fi
  if [ ! -f "$XCF_ZIP" ]; then
    add FAILED "iOS xcframework: ${XCF_ZIP#"$ROOT"/} was not written"
    return 0
  fi

  local checksum url
  checksum=$(cd "$ROOT/ios" && swift package compute-checksum "$XCF_ZIP" | tail -n 1 | tr -d '[:space:]')
  if ! printf '%s' "$checksum" | grep -Eq '^[0-9a-f]{64}$'; then
    say "iOS: swift package compute-checksum gave '$checksum', not a SHA-256"
    add FAILED "iOS xcframework: no checksum"
    return 0
  fi
  url=$REPO_URL/releases/download/v$VERSION/FieldSyncFFI.xcframework.zip
  say "produced: ${XCF_ZIP#"$ROOT"/} ($(wc -c <"$XCF_ZIP" | tr -d ' ') bytes), checksum $checksum"
  add BUILT "iOS xcframework: ${XCF_ZIP#"$ROOT"/} (checksum $checksum)"

  # The root Package.swift: one `let releaseURL = "..."` and one `let releaseChecksum = "..."`.
  local n_url n_sum
  if [ -f "$MANIFEST" ]; then
    n_url=$(grep -Ec '^[[:space:]]*let releaseURL = "[^"]*"' "$MANIFEST" || true)
    n_sum=$(grep -Ec '^[[:space:]]*let releaseChecksum = "[^"]*"' "$MANIFEST" || true)
  else
    n_url=0; n_sum=0
  fi
  if [ "$n_url" != 1 ] || [ "$n_sum" != 1 ]; then
    say "iOS: ${MANIFEST#"$ROOT"/} has $n_url releaseURL and $n_sum releaseChecksum lines (want one each); not rewritten. Set by hand:"
    say "  let releaseURL = \"$url\""
    say "  let releaseChecksum = \"$checksum\""
    add FAILED "iOS: Package.swift not updated (releaseURL/releaseChecksum lines not found)"
    return 0
  fi
  # -i.bak: works with both BSD (macOS) and GNU sed
  sed -i.bak \
    -e 's|^\([[:space:]]*let releaseURL = \)"[^"]*"|\1"'"$url"'"|' \
    -e 's|^\([[:space:]]*let releaseChecksum = \)"[^"]*"|\1"'"$checksum"'"|' \
    "$MANIFEST"
  rm -f "$MANIFEST.bak"
  if ! grep -Fq "let releaseURL = \"$url\"" "$MANIFEST" || ! grep -Fq "let releaseChecksum = \"$checksum\"" "$MANIFEST"; then
    add FAILED "iOS: rewriting Package.swift did not take"
    return 0
  fi
  say "updated ${MANIFEST#"$ROOT"/}: releaseURL = $url, releaseChecksum = $checksum"
  add BUILT "iOS Package.swift: releaseURL and releaseChecksum for v$VERSION"
  add NEXT_STEPS "iOS: git commit Package.swift -m 'Release v$VERSION'; git tag v$VERSION; git push origin HEAD v$VERSION"
  add NEXT_STEPS "iOS: upload ${XCF_ZIP#"$ROOT"/} to the GitHub release v$VERSION (its URL must be $url), e.g. gh release create v$VERSION ${XCF_ZIP#"$ROOT"/}"
}

android_release
ios_release

# --- Summary ------------------------------------------------------------------------------------

say ""
say "== Summary (v$VERSION)"
print_list() { # print_list label text
  [ -n "$2" ] || return 0
  printf '%s\n' "$2" | sed '/^$/d' | while IFS= read -r line; do say "  $1 $line"; done
}
if [ -z "$BUILT" ]; then say "  built:   nothing"; fi
print_list "built:  " "$BUILT"
print_list "skipped:" "$SKIPPED"
print_list "FAILED: " "$FAILED"
if [ -n "$NEXT_STEPS" ] && [ -z "$FAILED" ]; then
  say "next steps:"
  print_list "-" "$NEXT_STEPS"
fi

if [ -n "$FAILED" ]; then
  exit 1
fi
if [ -z "$BUILT" ] && [ "${RELEASE_STRICT:-0}" = 1 ]; then
  say "RELEASE_STRICT=1: nothing could be built on this machine"
  exit 1
fi
exit 0
