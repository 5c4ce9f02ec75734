# Makefile fragment for the UniFFI bindings (crate fieldsync-ffi). Included by the root Makefile;
# also usable alone: `make -f mk/bindings.mk <target>` from the repository root.
#
#   bindings        build the cdylib (debug) and regenerate the checked-in Kotlin and Swift
#                   sources in bindings/generated/{kotlin,swift} (library mode)
#   bindings-check  regenerate into a temp dir and diff against bindings/generated; fails if the
#                   checked-in bindings are stale relative to the Rust API (run in CI)
#   test-kotlin     build, then JUnit on the JVM against the host cdylib (scripts/kotlin-test.sh)
#   test-swift      build, then XCTest on Linux in a trixie chroot (scripts/swift-test.sh, root)
#   test-bindings   test-kotlin and test-swift
#
# The test scripts and the packaging in android/ and ios/ generate their own copies from the
# same cdylib; bindings/generated is the reviewable, diffable record of the FFI surface.

CARGO ?= cargo
CARGO_FLAGS ?= --ignore-rust-version

FFI_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
FFI_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(abspath $(CARGO_TARGET_DIR)),$(FFI_ROOT)/target)
FFI_CDYLIB := $(FFI_TARGET_DIR)/debug/libfieldsync_ffi.so
FFI_BINDGEN := $(FFI_TARGET_DIR)/debug/uniffi-bindgen
FFI_GENERATED := $(FFI_ROOT)/bindings/generated
# --no-format: identical output whether or not ktlint / swiftformat are installed.
# No --config: bindings/uniffi.toml is found through `cargo metadata` (see that file).
FFI_BINDGEN_ARGS := generate --no-format --metadata-no-deps --library $(FFI_CDYLIB)

.PHONY: bindings bindings-build bindings-check test-kotlin test-swift test-bindings

# Builds the cdylib and the uniffi-bindgen binary of the same uniffi version. Built with the
# features `cargo test --workspace` unifies (every member, tests included), so after the Rust
# tests of `make test` only the FFI crate itself is compiled: `-p fieldsync-ffi` alone
# resolves other features for shared dependencies and rebuilt 67 crates (6.4 of a fresh
# clone's 33 minutes).
bindings-build:
	cd $(FFI_ROOT) && $(CARGO) build $(CARGO_FLAGS) --workspace --lib --bins --tests

# $(1): output root (gets kotlin/ and swift/ below it). One shell line, so it also works
# inside a longer recipe line.
ffi_generate = rm -rf $(1)/kotlin $(1)/swift && mkdir -p $(1)/kotlin $(1)/swift && \
	cd $(FFI_ROOT) && \
	$(FFI_BINDGEN) $(FFI_BINDGEN_ARGS) --language kotlin --out-dir $(1)/kotlin && \
	$(FFI_BINDGEN) $(FFI_BINDGEN_ARGS) --language swift --out-dir $(1)/swift

bindings: bindings-build
	$(call ffi_generate,$(FFI_GENERATED))
	@echo "bindings: regenerated $(FFI_GENERATED)/{kotlin,swift}"

bindings-check: bindings-build
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fieldsync-bindings.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	( $(call ffi_generate,$$tmp) ) >/dev/null || exit 1; \
	if diff -ru $(FFI_GENERATED) "$$tmp"; then \
	  echo "bindings-check: bindings/generated is up to date"; \
	else \
	  echo "bindings-check: bindings/generated is stale; run 'make bindings' and commit" >&2; \
	  exit 1; \
	fi

test-kotlin: bindings-build
	FIELDSYNC_CDYLIB=$(FFI_CDYLIB) UNIFFI_BINDGEN=$(FFI_BINDGEN) $(FFI_ROOT)/scripts/kotlin-test.sh

test-swift: bindings-build
	FIELDSYNC_CDYLIB=$(FFI_CDYLIB) UNIFFI_BINDGEN=$(FFI_BINDGEN) $(FFI_ROOT)/scripts/swift-test.sh

test-bindings: test-kotlin test-swift
