#!/usr/bin/env bash
# Swift binding tests on Linux: the ios/ Swift package (generated Swift + ios/Sources/FieldSync
# wrappers + ios/Tests) is run with `swift test` (XCTest) against the host-built
# libfieldsync_ffi.so, inside a Debian trixie chroot with Debian's swiftlang 6.0.3 (this host is
# bookworm, which has no Swift; trixie's Swift needs glibc 2.38).
#
# Does NOT build Rust: build first (the Makefile does), e.g.
#   cargo build -p fieldsync-ffi          # -> target/debug/libfieldsync_ffi.so + uniffi-bindgen
#
# Environment (all optional):
#   FIELDSYNC_CDYLIB   the cdylib                 (default: target/debug/libfieldsync_ffi.so)
#   UNIFFI_BINDGEN     the uniffi-bindgen binary  (default: uniffi-bindgen next to the cdylib)
#   TOOLCHAIN_DIR      toolchain cache            (default: ~/.cache/fieldsync-toolchain)
#   SWIFT_ROOT         the chroot                 (default: $TOOLCHAIN_DIR/trixie)
#   MIRROR             Debian mirror for debootstrap (default: http://deb.debian.org/debian)
#   SWIFT_TEST_FILTER  passed to `swift test --filter` when set
#
# First run (as root): debootstrap + apt-get install swiftlang libc6-dev into $SWIFT_ROOT,
# about 1-2.5 min and 2.6 GB; later runs reuse it. /proc is mounted inside the chroot while the
# tests run and unmounted on exit. To remove the chroot: make sure "$SWIFT_ROOT/proc" is not
# mounted (`umount "$SWIFT_ROOT/proc"`), then `rm -rf "$SWIFT_ROOT"`; never delete it while mounted.
# Last line: "N passed, N failed"; exit code is swift test's (non-zero on any failure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TOOLCHAIN_DIR:-$HOME/.cache/fieldsync-toolchain}
R=${SWIFT_ROOT:-$TC/trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CDYLIB=${FIELDSYNC_CDYLIB:-$ROOT/target/debug/libfieldsync_ffi.so}
BINDGEN=${UNIFFI_BINDGEN:-$(dirname "$CDYLIB")/uniffi-bindgen}
IOS=$ROOT/ios
# Names fixed by bindings/uniffi.toml ([bindings.swift] module_name / ffi_module_name /
# ffi_module_filename) and ios/Package.swift.
SWIFT_MODULE=FieldSync
FFI_MODULE=FieldSyncFFI
W_IN=/build/fieldsync          # work dir as seen inside the chroot
W=$R$W_IN                      # the same dir seen from the host

ms() { date +%s%3N; }
die() { echo "swift-test: error: $*" >&2; exit 1; }
t_start=$(ms)

# --- 0) inputs: never build them here -----------------------------------------------------------
[ -f "$CDYLIB" ] || die "cdylib not found: $CDYLIB
  build it first (e.g. 'cargo build -p fieldsync-ffi' or the Makefile), or set FIELDSYNC_CDYLIB"
[ -x "$BINDGEN" ] || die "uniffi-bindgen not found: $BINDGEN
  it is built with the cdylib ('cargo build -p fieldsync-ffi'), or set UNIFFI_BINDGEN"
[ -f "$IOS/Package.swift" ] || die "missing $IOS/Package.swift"
[ "$(id -u)" = 0 ] || die "needs root (chroot, mount)"

# /proc inside the chroot: swift resolves its $ORIGIN rpaths through /proc/self/exe.
# Unmount on exit only if this run mounted it (a concurrent run may hold it).
MOUNTED=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { if [ -n "$MOUNTED" ]; then umount "$R/proc" 2>/dev/null || umount -l "$R/proc" 2>/dev/null || true; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mount_proc() {
  if ! mountpoint -q "$R/proc"; then
    mount -t proc proc "$R/proc"
    MOUNTED=1
  fi
}

# --- 1) toolchain: the trixie chroot with swiftlang (idempotent) ---------------------------------
# (test the real binary: /usr/bin/swift inside is an absolute symlink that does not resolve from
#  the host)
if [ ! -x "$R/usr/libexec/swift/bin/swift-frontend" ]; then
  if [ -e "$R" ]; then
    # an interrupted earlier setup: remove it, but never while anything is mounted below it
    if grep -q " $R/" /proc/mounts; then
      die "$R is incomplete and has mounts below it; unmount them (umount $R/proc) and rerun"
    fi
    # and only inside the toolchain cache (SWIFT_ROOT could point anywhere)
    case "$(readlink -f "$R")/" in
      "$(readlink -f "$TC")"/?*/) ;;
      *) die "$R exists but has no swift; remove it yourself or choose another SWIFT_ROOT" ;;
    esac
    echo "swift-test: removing incomplete chroot $R"
    rm -rf "$R"
  fi
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  echo "swift-test: creating Debian trixie chroot with swiftlang in $R (once; ~2.6 GB)"
  mkdir -p "$(dirname "$R")"
  t=$(ms)
  debootstrap --variant=minbase trixie "$R" "$MIRROR" > "$R.debootstrap.log" 2>&1 \
    || { tail -20 "$R.debootstrap.log"; die "debootstrap failed (log: $R.debootstrap.log)"; }
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  mount_proc
  chroot "$R" apt-get update -qq
  # libc6-dev: without it swiftc warns "libc not found" and Glibc/Foundation imports break
  chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    swiftlang libc6-dev > "$R.apt.log" 2>&1 \
    || { tail -20 "$R.apt.log"; die "apt-get install swiftlang failed (log: $R.apt.log)"; }
  chroot "$R" apt-get clean
  echo "swift-test: chroot ready in $(( ($(ms) - t) / 1000 )) s"
fi
mount_proc
chroot "$R" swift --version 2>&1 | head -n1

# --- 2) generate Swift bindings (library mode) --------------------------------------------------
# Run from the workspace root: uniffi-bindgen calls `cargo metadata` (read-only, no build lock) to
# find bindings/uniffi.toml by itself. No --config: in uniffi 0.32 --config takes a *global*
# config file, and the crate's flat uniffi.toml passed there is ignored with a warning.
GEN=$ROOT/build/swift/generated
rm -rf "$GEN"
mkdir -p "$GEN"
cd "$ROOT"
"$BINDGEN" generate --no-format --metadata-no-deps --library "$CDYLIB" \
    --language swift --out-dir "$GEN"
for f in "$SWIFT_MODULE.swift" "$FFI_MODULE.h" "$FFI_MODULE.modulemap"; do
  [ -f "$GEN/$f" ] || die "uniffi-bindgen did not write $f (check [bindings.swift] in bindings/uniffi.toml)"
done

# --- 3) stage the package into the chroot (copies: nothing of the host is visible inside) --------
# Keep $W/pkg/.build between runs (incremental builds); replace everything else.
mkdir -p "$W/lib" "$W/pkg"
rm -rf "${W:?}/lib/"* "$W/pkg/Sources" "$W/pkg/Tests" "$W/pkg/Package.swift" "$W/pkg/Package.resolved"
cp "$(readlink -f "$CDYLIB")" "$W/lib/libfieldsync_ffi.so"
cp "$IOS/Package.swift" "$W/pkg/"
mkdir -p "$W/pkg/Sources/$SWIFT_MODULE/Generated" "$W/pkg/Sources/$FFI_MODULE"
# hand-written sources; any Generated/ left in ios/ by build-xcframework.sh is replaced by fresh code
(cd "$IOS/Sources/$SWIFT_MODULE" && find . \( -name '*.swift' -o -name '*.xcprivacy' \) -not -path './Generated/*' -print0 \
  | xargs -0 -r cp -L --parents -t "$W/pkg/Sources/$SWIFT_MODULE/")
cp "$GEN/$SWIFT_MODULE.swift" "$W/pkg/Sources/$SWIFT_MODULE/Generated/"
cp "$GEN/$FFI_MODULE.h" "$W/pkg/Sources/$FFI_MODULE/"
# systemLibrary target: needs `module.modulemap`; `link "fieldsync_ffi"` makes SwiftPM link the .so
sed "s/^\([[:space:]]*header \"$FFI_MODULE.h\"\)/\1\n    link \"fieldsync_ffi\"/" \
  "$GEN/$FFI_MODULE.modulemap" > "$W/pkg/Sources/$FFI_MODULE/module.modulemap"
grep -q 'link "fieldsync_ffi"' "$W/pkg/Sources/$FFI_MODULE/module.modulemap" \
  || die "could not add link \"fieldsync_ffi\" to the generated modulemap"
cp -rL "$IOS/Tests" "$W/pkg/"

# --- 4) swift test ------------------------------------------------------------------------------
# --disable-swift-testing: only XCTest is used; otherwise swift-testing adds a misleading
# "0 tests" line. Absolute -L / rpath into the chroot's lib dir.
FILTER=()
[ -z "${SWIFT_TEST_FILTER:-}" ] || FILTER=(--filter "$SWIFT_TEST_FILTER")
t=$(ms)
set +e
chroot "$R" env -C "$W_IN/pkg" swift test --disable-swift-testing "${FILTER[@]}" \
    -Xlinker -L"$W_IN/lib" -Xlinker -rpath -Xlinker "$W_IN/lib" 2>&1 | tee "$ROOT/build/swift/swift-test.out"
rc=${PIPESTATUS[0]}
set -e
echo "swift-test: swift test $(( $(ms) - t )) ms, total $(( $(ms) - t_start )) ms"

# XCTest's last "Executed N tests, with M failures" line is the 'All tests' total.
summary=$(sed -n 's/.*Executed \([0-9]\+\) tests\?, with \([0-9]\+\) failures\?.*/\1 \2/p' \
  "$ROOT/build/swift/swift-test.out" | tail -n1)
if [ -z "$summary" ]; then
  echo "swift-test: no XCTest summary (build failed?), exit $rc" >&2
  [ "$rc" -ne 0 ] || rc=1
else
  # M counts failed assertions, not tests: count the failed test cases instead.
  read -r n _ <<< "$summary"
  f=$(grep -c "^Test Case '.*' failed" "$ROOT/build/swift/swift-test.out" || true)
  echo "$((n - f)) passed, $f failed"
fi
exit "$rc"
