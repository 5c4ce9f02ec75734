#!/usr/bin/env bash
# Swift binding tests on Linux: the Swift package (root Package.swift: the committed generated
# Swift + ios/Sources/FieldSync wrappers + ios/Tests) is validated in its three FFI variants and
# run with `swift test` (XCTest) against the host-built
# libfieldsync_ffi.so, inside a Debian trixie chroot with Debian's swiftlang 6.0.3 (this host is
# bookworm, which has no Swift; trixie's Swift needs glibc 2.38).
#
# Does NOT build Rust: build first (the Makefile does), e.g.
#   cargo build -p fieldsync-ffi          # -> target/debug/libfieldsync_ffi.so + uniffi-bindgen
#
# Environment (all optional):
#   FIELDSYNC_CDYLIB   the cdylib                 (default: target/debug/libfieldsync_ffi.so)
#   FIELDSYNC_CLI      the fieldsync binary the relay tests start (optional; they skip without)
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
# ffi_module_filename) and Package.swift.
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
[ -f "$ROOT/Package.swift" ] || die "missing $ROOT/Package.swift"
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

# --- 2) the committed generated Swift must match this library (make bindings writes it) ---------
GEN=$ROOT/build/swift/generated
FIELDSYNC_CDYLIB=$CDYLIB UNIFFI_BINDGEN=$BINDGEN "$ROOT/scripts/generate-bindings.sh" "$GEN"
for f in "Sources/$SWIFT_MODULE/Generated/$SWIFT_MODULE.swift" "Sources/$FFI_MODULE/$FFI_MODULE.h" \
         "Sources/$FFI_MODULE/module.modulemap"; do
  cmp -s "$GEN/ios/$f" "$IOS/$f" || die "ios/$f is stale relative to $CDYLIB: run 'make bindings'"
done

# --- 3) stage the package into the chroot (copies: nothing of the host is visible inside) --------
# The root Package.swift with ios/Sources, ios/Samples and ios/Tests, as a checkout has them. Keep
# $W/pkg/.build between runs (incremental builds); replace everything else.
mkdir -p "$W/lib" "$W/pkg/ios"
rm -rf "${W:?}/lib/"* "$W/pkg/ios/Sources" "$W/pkg/ios/Tests" "$W/pkg/ios/Samples" "$W/pkg/Package.swift" "$W/pkg/Package.resolved" \
  "$W/pkg/Sources" "$W/pkg/Tests"
cp "$(readlink -f "$CDYLIB")" "$W/lib/libfieldsync_ffi.so"
# The `fieldsync` CLI for the relay tests (FIELDSYNC_CLI), runnable inside the chroot.
CLI_ENV=()
if [ -n "${FIELDSYNC_CLI:-}" ] && [ -x "$FIELDSYNC_CLI" ]; then
  cp "$(readlink -f "$FIELDSYNC_CLI")" "$W/lib/fieldsync"
  CLI_ENV=(FIELDSYNC_CLI="$W_IN/lib/fieldsync")
fi
cp "$ROOT/Package.swift" "$W/pkg/"
cp -rL "$IOS/Sources" "$IOS/Tests" "$IOS/Samples" "$W/pkg/ios/"

# The manifest in each FFI variant: `release` (the default on Apple platforms: binary target by
# URL + checksum) and `local` (the XCFramework built on a Mac) are only evaluated here, since
# neither can link on Linux; `system` is described (targets, paths, products).
dump() { chroot "$R" env -C "$W_IN/pkg" FIELDSYNC_FFI="$1" swift package dump-package; }
url=$(sed -n 's/^let releaseURL = "\(.*\)"$/\1/p' "$ROOT/Package.swift")
sum=$(sed -n 's/^let releaseChecksum = "\(.*\)"$/\1/p' "$ROOT/Package.swift")
[ -n "$url" ] && [[ $sum =~ ^[0-9a-f]{64}$ ]] || die "Package.swift: releaseURL / releaseChecksum lines not found"
dump release | tr -d ' \n' | grep -q "\"url\":\"$url\"" || die "Package.swift (release): no binary target by $url"
dump release | tr -d ' \n' | grep -q "\"checksum\":\"$sum\"" || die "Package.swift (release): checksum missing"
dump local | tr -d ' \n' | grep -q '"path":"ios/FieldSyncFFI.xcframework"' \
  || die "Package.swift (local): no binary target at ios/FieldSyncFFI.xcframework"
chroot "$R" env -C "$W_IN/pkg" FIELDSYNC_FFI=system swift package describe > "$ROOT/build/swift/describe.out" \
  || die "swift package describe failed (build/swift/describe.out)"
grep -q "Type: system-target" "$ROOT/build/swift/describe.out" \
  || die "Package.swift (system): no systemLibrary target (build/swift/describe.out)"
echo "swift-test: Package.swift validated in the release, local and system variants"

# --- 4) swift test ------------------------------------------------------------------------------
# --disable-swift-testing: only XCTest is used; otherwise swift-testing adds a misleading
# "0 tests" line. Absolute -L / rpath into the chroot's lib dir.
FILTER=()
[ -z "${SWIFT_TEST_FILTER:-}" ] || FILTER=(--filter "$SWIFT_TEST_FILTER")
t=$(ms)
set +e
chroot "$R" env -C "$W_IN/pkg" "${CLI_ENV[@]}" swift test --disable-swift-testing "${FILTER[@]}" \
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
