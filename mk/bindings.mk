# Makefile fragment for the UniFFI bindings (crate fieldsync-ffi). Included by the root Makefile;
# also usable alone: `make -f mk/bindings.mk <target>` from the repository root.
#
#   bindings        build the cdylib (debug) and regenerate the checked-in bindings
#                   (scripts/generate-bindings.sh): bindings/generated/kotlin, and the Swift
#                   package's ios/Sources/FieldSync/Generated + ios/Sources/FieldSyncFFI
#   bindings-check  regenerate into a temp dir and diff against the checked-in files; fails if
#                   they are stale relative to the Rust API (run in CI)
#   test-kotlin     build, then JUnit on the JVM against the host cdylib (scripts/kotlin-test.sh)
#   test-swift      build, then XCTest on Linux in a trixie chroot (scripts/swift-test.sh, root)
#   test-bindings   test-kotlin and test-swift
#
# The Kotlin test script and android/ generate their own Kotlin from the same cdylib
# (bindings/generated/kotlin is the reviewable record); the Swift package uses the committed
# Swift, so adding it by URL compiles.

CARGO ?= cargo
CARGO_FLAGS ?= --ignore-rust-version

FFI_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
FFI_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(abspath $(CARGO_TARGET_DIR)),$(FFI_ROOT)/target)
FFI_CDYLIB := $(FFI_TARGET_DIR)/debug/libfieldsync_ffi.so
FFI_BINDGEN := $(FFI_TARGET_DIR)/debug/uniffi-bindgen

.PHONY: bindings bindings-build bindings-check test-kotlin test-swift test-bindings

# Builds the cdylib and the uniffi-bindgen binary of the same uniffi version. Built with the
# features `cargo test --workspace` unifies (every member, tests included), so after the Rust
# tests of `make test` only the FFI crate itself is compiled: `-p fieldsync-ffi` alone
# resolves other features for shared dependencies and rebuilt 67 crates (6.4 of a fresh
# clone's 33 minutes).
bindings-build:
	cd $(FFI_ROOT) && $(CARGO) build $(CARGO_FLAGS) --workspace --lib --bins --tests

# The checked-in files generated from the cdylib (scripts/generate-bindings.sh lists them).
FFI_OUTPUTS := bindings/generated/kotlin ios/Sources/FieldSync/Generated \
	ios/Sources/FieldSyncFFI/FieldSyncFFI.h ios/Sources/FieldSyncFFI/module.modulemap
FFI_GEN_ENV := FIELDSYNC_CDYLIB=$(FFI_CDYLIB) UNIFFI_BINDGEN=$(FFI_BINDGEN)

bindings: bindings-build
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fieldsync-bindings.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(FFI_GEN_ENV) $(FFI_ROOT)/scripts/generate-bindings.sh "$$tmp" || exit 1; \
	cd $(FFI_ROOT) && rm -rf $(FFI_OUTPUTS) && \
	mkdir -p bindings/generated ios/Sources/FieldSync ios/Sources/FieldSyncFFI && \
	cp -R "$$tmp/bindings/generated/kotlin" bindings/generated/ && \
	cp -R "$$tmp/ios/Sources/FieldSync/Generated" ios/Sources/FieldSync/ && \
	cp "$$tmp/ios/Sources/FieldSyncFFI/FieldSyncFFI.h" "$$tmp/ios/Sources/FieldSyncFFI/module.modulemap" \
	  ios/Sources/FieldSyncFFI/
	@echo "bindings: regenerated $(FFI_OUTPUTS)"

bindings-check: bindings-build
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fieldsync-bindings.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(FFI_GEN_ENV) $(FFI_ROOT)/scripts/generate-bindings.sh "$$tmp" || exit 1; \
	stale=; \
	for f in $(FFI_OUTPUTS); do \
	  diff -ru "$(FFI_ROOT)/$$f" "$$tmp/$$f" || stale=1; \
	done; \
	if [ -n "$$stale" ]; then \
	  echo "bindings-check: the checked-in bindings are stale; run 'make bindings' and commit" >&2; \
	  exit 1; \
	fi; \
	echo "bindings-check: $(FFI_OUTPUTS) equal uniffi-bindgen's output"

test-kotlin: bindings-build
	FIELDSYNC_CDYLIB=$(FFI_CDYLIB) UNIFFI_BINDGEN=$(FFI_BINDGEN) FIELDSYNC_CLI=$(dir $(FFI_CDYLIB))fieldsync $(FFI_ROOT)/scripts/kotlin-test.sh

test-swift: bindings-build
	FIELDSYNC_CDYLIB=$(FFI_CDYLIB) UNIFFI_BINDGEN=$(FFI_BINDGEN) FIELDSYNC_CLI=$(dir $(FFI_CDYLIB))fieldsync $(FFI_ROOT)/scripts/swift-test.sh

test-bindings: test-kotlin test-swift
