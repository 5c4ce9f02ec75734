#!/usr/bin/env bash
# Build ios/FieldSyncFFI.xcframework and the generated Swift bindings for the FieldSync Swift
# package (ios/Package.swift). Runs on macOS only: needs Xcode (xcodebuild, lipo, the iOS SDKs)
# and rustup. It cannot run on the Linux CI machine; there the Swift package is tested with
# scripts/swift-test.sh against a Linux .so instead.
#
#   ios/build-xcframework.sh             # release build, all slices
#   PROFILE=release-small ios/build-xcframework.sh   # smaller binary (opt-level z but crypto at 3, LTO, strip)
#
# Output (gitignored):
#   ios/FieldSyncFFI.xcframework/          static libraries + headers, one slice per platform:
#       ios-arm64/                           aarch64-apple-ios (devices)
#       ios-arm64_x86_64-simulator/          aarch64-apple-ios-sim + x86_64-apple-ios (lipo)
#       macos-arm64_x86_64/                  aarch64-apple-darwin + x86_64-apple-darwin (lipo)
#     each with Headers/FieldSyncFFI/{FieldSyncFFI.h, module.modulemap} (module FieldSyncFFI)
# and checks that the committed ios/Sources/FieldSync/Generated/FieldSync.swift matches the library.
#
# Then, at the repository root on a Mac: `FIELDSYNC_FFI=local swift build` / `swift test`, or open
# the root Package.swift in Xcode with FIELDSYNC_FFI=local in the environment (see Package.swift).
# For a release: ZIP=1 also writes FieldSyncFFI.xcframework.zip and prints its SwiftPM checksum for
# a `.binaryTarget(name: "FieldSyncFFI", url: ..., checksum: ...)`.
set -euo pipefail

IOS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$IOS/.." && pwd)
PROFILE=${PROFILE:-release}
CRATE=fieldsync-ffi
LIB=libfieldsync_ffi
# names fixed by bindings/uniffi.toml [bindings.swift] and ios/Package.swift
SWIFT_MODULE=FieldSync
FFI_MODULE=FieldSyncFFI
# keep in sync with `platforms:` in Package.swift
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-15.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-12.0}

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh: needs macOS with Xcode (xcodebuild)" >&2; exit 1; }
command -v xcodebuild >/dev/null || { echo "build-xcframework.sh: xcodebuild not found (install Xcode, xcode-select -s)" >&2; exit 1; }

TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${TARGETS[@]}"

cd "$ROOT"
# cargo's output dir for a profile: "release" -> release, "dev" -> debug, custom -> its name
case $PROFILE in dev) PDIR=debug ;; *) PDIR=$PROFILE ;; esac

# 1) static libraries (crate-type staticlib) for every Apple target
for t in "${TARGETS[@]}"; do
  echo "== cargo build $t ($PROFILE)"
  cargo build --profile "$PROFILE" --ignore-rust-version -p "$CRATE" --target "$t"
done
lib() { echo "$ROOT/target/$1/$PDIR/$LIB.a"; }

# 2) fat libraries: an xcframework takes one library per platform variant, so the two simulator
#    architectures and the two macOS architectures are merged with lipo (device iOS is arm64 only)
OUT=$ROOT/target/xcframework
rm -rf "$OUT"
mkdir -p "$OUT/ios" "$OUT/ios-sim" "$OUT/macos" "$OUT/include/$FFI_MODULE" "$OUT/swift"
cp "$(lib aarch64-apple-ios)" "$OUT/ios/$LIB.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$OUT/ios-sim/$LIB.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$OUT/macos/$LIB.a"

# 3) Swift bindings. Library mode reads the UniFFI metadata from a built library; use the macOS
#    dylib (crate-type cdylib) of the host architecture, with the host-built uniffi-bindgen.
#    uniffi-bindgen finds bindings/uniffi.toml itself (cargo metadata); no --config (in uniffi
#    0.32 --config expects a global config file and ignores a flat uniffi.toml).
case $(uname -m) in arm64) HOST=aarch64-apple-darwin ;; *) HOST=x86_64-apple-darwin ;; esac
cargo run --ignore-rust-version -p "$CRATE" --bin uniffi-bindgen -- generate \
  --library "$ROOT/target/$HOST/$PDIR/$LIB.dylib" --language swift \
  --out-dir "$OUT/swift" --no-format --metadata-no-deps
for f in "$SWIFT_MODULE.swift" "$FFI_MODULE.h" "$FFI_MODULE.modulemap"; do
  [ -f "$OUT/swift/$f" ] || { echo "uniffi-bindgen did not write $f (check bindings/uniffi.toml)" >&2; exit 1; }
done

# 4) headers: Headers/FieldSyncFFI/{FieldSyncFFI.h, module.modulemap}.
#    The modulemap is named module.modulemap so clang finds `module FieldSyncFFI` when SwiftPM /
#    Xcode put the xcframework's Headers on the include path. It sits in a FieldSyncFFI/
#    subdirectory (clang also looks in <include dir>/<ModuleName>/module.modulemap) because
#    Xcode copies every static xcframework's Headers into one shared include dir: two packages that
#    both ship a top-level Headers/module.modulemap collide ("Multiple commands produce
#    .../include/module.modulemap").
#    The generated modulemap is a plain (not `framework`) module, as needed for static libraries.
cp "$OUT/swift/$FFI_MODULE.h" "$OUT/include/$FFI_MODULE/"
cp "$OUT/swift/$FFI_MODULE.modulemap" "$OUT/include/$FFI_MODULE/module.modulemap"

# 5) the xcframework
rm -rf "$IOS/$FFI_MODULE.xcframework"
xcodebuild -create-xcframework \
  -library "$OUT/ios/$LIB.a" -headers "$OUT/include" \
  -library "$OUT/ios-sim/$LIB.a" -headers "$OUT/include" \
  -library "$OUT/macos/$LIB.a" -headers "$OUT/include" \
  -output "$IOS/$FFI_MODULE.xcframework"

# 6) the generated Swift is committed (ios/Sources/FieldSync/Generated, written by `make
#    bindings`): check that it is what this library's metadata produces
perl "$ROOT/scripts/swift-postprocess.pl" "$OUT/swift/$SWIFT_MODULE.swift"
cmp -s "$OUT/swift/$SWIFT_MODULE.swift" "$IOS/Sources/$SWIFT_MODULE/Generated/$SWIFT_MODULE.swift" || {
  echo "ios/Sources/$SWIFT_MODULE/Generated/$SWIFT_MODULE.swift is stale: run 'make bindings' and commit" >&2
  exit 1
}

if [ "${ZIP:-0}" = 1 ]; then
  (cd "$IOS" && rm -f "$FFI_MODULE.xcframework.zip" && zip -qry "$FFI_MODULE.xcframework.zip" "$FFI_MODULE.xcframework")
  echo "checksum: $(cd "$ROOT" && swift package compute-checksum "$IOS/$FFI_MODULE.xcframework.zip")"
fi
echo "built $IOS/$FFI_MODULE.xcframework (use it with FIELDSYNC_FFI=local, see Package.swift)"
