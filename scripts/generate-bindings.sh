#!/usr/bin/env bash
# Generates every checked-in binding file from the built cdylib into OUT (a scratch directory),
# laid out like the repository:
#   OUT/bindings/generated/kotlin/org/fieldsync/fieldsync_ffi.kt   Kotlin (reviewable record;
#                                         android/ and the JVM tests generate their own copy),
#                                         readable error messages (scripts/kotlin-postprocess.pl)
#   OUT/ios/Sources/FieldSync/Generated/FieldSync.swift   Swift, with Task cancellation reaching
#                                         the Rust future (scripts/swift-postprocess.pl)
#   OUT/ios/Sources/FieldSyncFFI/FieldSyncFFI.h           the C header the Swift imports
#   OUT/ios/Sources/FieldSyncFFI/module.modulemap         module FieldSyncFFI (+ `link
#                                         "fieldsync_ffi"` for the Linux systemLibrary target)
# The Swift package is consumed by URL, so its generated sources are committed; `make bindings`
# copies OUT into the repository and `make bindings-check` diffs the two (mk/bindings.mk).
#
#   scripts/generate-bindings.sh OUT      (env: FIELDSYNC_CDYLIB, UNIFFI_BINDGEN)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: generate-bindings.sh OUT}
CDYLIB=${FIELDSYNC_CDYLIB:-$ROOT/target/debug/libfieldsync_ffi.so}
BINDGEN=${UNIFFI_BINDGEN:-$(dirname "$CDYLIB")/uniffi-bindgen}
# Names fixed by bindings/uniffi.toml [bindings.swift] and Package.swift.
SWIFT_MODULE=FieldSync
FFI_MODULE=FieldSyncFFI
# --no-format: identical output whether or not ktlint / swiftformat are installed. No --config:
# bindings/uniffi.toml is found through `cargo metadata` (see that file).
ARGS=(generate --no-format --metadata-no-deps --library "$CDYLIB")

die() { echo "generate-bindings: $*" >&2; exit 1; }
[ -f "$CDYLIB" ] || die "cdylib not found: $CDYLIB (build it first: make bindings-build)"
[ -x "$BINDGEN" ] || die "uniffi-bindgen not found: $BINDGEN"

rm -rf "$OUT/bindings/generated" "$OUT/ios" "$OUT/swift-raw"
mkdir -p "$OUT/bindings/generated/kotlin" "$OUT/swift-raw" \
  "$OUT/ios/Sources/$SWIFT_MODULE/Generated" "$OUT/ios/Sources/$FFI_MODULE"
cd "$ROOT"
"$BINDGEN" "${ARGS[@]}" --language kotlin --out-dir "$OUT/bindings/generated/kotlin" >/dev/null
perl "$ROOT/scripts/kotlin-postprocess.pl" "$OUT/bindings/generated/kotlin/org/fieldsync/fieldsync_ffi.kt"
"$BINDGEN" "${ARGS[@]}" --language swift --out-dir "$OUT/swift-raw" >/dev/null
for f in "$SWIFT_MODULE.swift" "$FFI_MODULE.h" "$FFI_MODULE.modulemap"; do
  [ -f "$OUT/swift-raw/$f" ] || die "uniffi-bindgen did not write $f (see bindings/uniffi.toml)"
done

perl "$ROOT/scripts/swift-postprocess.pl" "$OUT/swift-raw/$SWIFT_MODULE.swift"
mv "$OUT/swift-raw/$SWIFT_MODULE.swift" "$OUT/ios/Sources/$SWIFT_MODULE/Generated/"
mv "$OUT/swift-raw/$FFI_MODULE.h" "$OUT/ios/Sources/$FFI_MODULE/"
# A systemLibrary target needs `module.modulemap`; `link "fieldsync_ffi"` makes SwiftPM link the
# library on Linux (on Apple platforms the XCFramework carries its own copy of the module).
sed "s/^\([[:space:]]*header \"$FFI_MODULE.h\"\)/\1\n    link \"fieldsync_ffi\"/" \
  "$OUT/swift-raw/$FFI_MODULE.modulemap" > "$OUT/ios/Sources/$FFI_MODULE/module.modulemap"
grep -q 'link "fieldsync_ffi"' "$OUT/ios/Sources/$FFI_MODULE/module.modulemap" \
  || die "could not add link \"fieldsync_ffi\" to the generated modulemap"
rm -rf "$OUT/swift-raw"
