# FieldSync: the only commands a newcomer needs.
#
#   make demo       build the `fieldsync` command and run its two-node sync demo (127.0.0.1 only)
#   make test       everything CI checks: the core's layer rule, README code, fmt, Rust tests,
#                   clippy, bindings up to date, Kotlin (JVM) and Swift (Linux) tests and samples
#   make bindings   regenerate the checked-in Kotlin/Swift bindings (mk/bindings.mk)
#   make bench      release benchmarks: prints a table and writes BENCHMARKS.md (installs valgrind)
#   make fuzz       run every fuzz target for FUZZ_SECS seconds each (installs cargo-fuzz)
#   make reliability  long fault and load tests (release build; see RELIABILITY.md)
#   make release    Android AAR + POM (build/release/maven) and iOS xcframework zip, where the tools exist
#
# `deps` (run by demo and test) installs missing Debian build packages with apt-get; it needs
# a Rust toolchain (cargo) already installed. The Kotlin and Swift test scripts install their
# own toolchains on first use (see scripts/).

CARGO ?= cargo
# rustc here may be older than p2panda's declared rust-version; the code builds with it.
CARGO_FLAGS = --ignore-rust-version
# Upper bound for the whole Rust test suite, in seconds.
TEST_TIMEOUT ?= 2400

.DEFAULT_GOAL := help

include mk/bindings.mk

.PHONY: help deps lint-deps demo test test-rust check-layers check-snippets fmt-check clippy bench fuzz fuzz-seeds reliability

help:
	@sed -n '2,11p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# Debian packages the build needs (a C compiler for bundled SQLite and crypto, pkg-config).
APT_PACKAGES := build-essential pkg-config

# DEPS_EXTRA: more Debian packages one target needs (`make bench`: valgrind, for callgrind, and
# iptables, for the relayed figures;
# `make test`: chromium, for the web console's browser test; iptables, for the relay's NAT test).
DEPS_EXTRA ?=

deps:
	@missing="$(DEPS_EXTRA)"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing build-essential"; \
	command -v make >/dev/null 2>&1 || missing="$$missing build-essential"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v timeout >/dev/null 2>&1 || missing="$$missing coreutils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	  else echo "deps: missing Debian packages:$$missing; install them as root: apt-get install$$missing" >&2; exit 1; fi; \
	  echo "deps: installing$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi; \
	command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "deps: cargo not found: install a Rust toolchain (rustup, stable) and re-run" >&2; exit 1; }

# rustfmt and clippy, added through rustup when the toolchain lacks them.
lint-deps: deps
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

demo: deps
	$(CARGO) build $(CARGO_FLAGS) -p fieldsync-cli
	$(CARGO) run $(CARGO_FLAGS) -q -p fieldsync-cli -- demo

# A lower layer of the core must not import a higher one (ARCHITECTURE.md).
check-layers:
	sh scripts/check-layers.sh core/src

# README code blocks are excerpts of compiled, tested sources (the survey samples, the tests).
check-snippets:
	perl scripts/check-snippets.pl

fmt-check: lint-deps
	$(CARGO) fmt --all --check

test-rust: deps
	timeout -k 30 $(TEST_TIMEOUT) $(CARGO) test --workspace $(CARGO_FLAGS)

clippy: lint-deps
	$(CARGO) clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings

# Sequential on purpose: each step is heavy on a small machine, and the first failure stops.
# One-shot builds of the workspace crates are faster without incremental compilation.
test: export CARGO_INCREMENTAL = 0
test: deps
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory deps DEPS_EXTRA=chromium
	@command -v iptables >/dev/null 2>&1 || $(MAKE) --no-print-directory deps DEPS_EXTRA=iptables
	$(MAKE) --no-print-directory check-layers
	$(MAKE) --no-print-directory check-snippets
	$(MAKE) --no-print-directory fmt-check
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory clippy
	$(MAKE) --no-print-directory bindings-check
	$(MAKE) --no-print-directory test-kotlin
	$(MAKE) --no-print-directory test-swift
	@echo "make test: all checks passed"

# Where cargo puts build output (honours CARGO_TARGET_DIR).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

# Release figures into BENCHMARKS.md (fieldsync-bench), then the criterion micro-benchmarks
# and the encryption-cost comparison. Takes several minutes; BENCH_ARGS=--quick for a smoke run.
bench: deps
	@command -v valgrind >/dev/null 2>&1 || $(MAKE) --no-print-directory deps DEPS_EXTRA=valgrind
	@command -v iptables >/dev/null 2>&1 || $(MAKE) --no-print-directory deps DEPS_EXTRA=iptables
	$(CARGO) build $(CARGO_FLAGS) --profile release-small -p fieldsync-ffi --lib
	$(CARGO) build $(CARGO_FLAGS) --profile release-small -p fieldsync-bench
	$(CARGO) run $(CARGO_FLAGS) --release -q -p fieldsync-bench -- \
	  --cdylib $(TARGET_DIR)/release-small/libfieldsync_ffi.so \
	  --size-bench $(TARGET_DIR)/release-small/fieldsync-bench --out BENCHMARKS.md $(BENCH_ARGS)
	$(CARGO) bench $(CARGO_FLAGS) -p fieldsync --bench hot_paths --bench crypto

# Fuzzing (fuzz/, its own workspace). cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP lets the
# stable toolchain accept them, and fuzz/shim/cargo adds --ignore-rust-version to its builds.
# New corpus entries go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> holds the
# committed seeds (regenerate with `make fuzz-seeds`). Crashes land in fuzz/artifacts/<target>.
FUZZ_SECS ?= 60
FUZZ_TARGETS ?= ingest_wire ingest_signed group_message invite_parse peer_messages direct_envelope catchup_frames fork_proof
FUZZ_ENV = RUSTC_BOOTSTRAP=1 FIELDSYNC_REAL_CARGO="$$(command -v $(CARGO))" PATH="$(CURDIR)/fuzz/shim:$$PATH"

fuzz: deps
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(FUZZ_ENV) cargo fuzz build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECS) s"; \
	  (cd fuzz && $(FUZZ_ENV) cargo fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECS) -rss_limit_mb=2048 -print_final_stats=1) || exit 1; \
	done
	@echo "make fuzz: no crash in $(FUZZ_TARGETS)"

fuzz-seeds: deps
	$(CARGO) run $(CARGO_FLAGS) -q -p fieldsync-tests --bin fuzz_seeds -- fuzz/seeds

# Long fault and load tests, release-optimised (profile `reliability`: no LTO): the ignored
# tests of the tests crate.
reliability: deps
	timeout -k 30 $(TEST_TIMEOUT) $(CARGO) test --profile reliability $(CARGO_FLAGS) -p fieldsync-tests -- --ignored --nocapture

# Release artifacts of the mobile packages (scripts/release.sh), version from Cargo.toml: the
# Android AAR + POM into build/release/maven (needs the Android SDK, NDK, cargo-ndk, Gradle) and,
# on macOS with Xcode, ios/FieldSyncFFI.xcframework.zip with its checksum written into
# Package.swift. Prints what it skipped and why; RELEASE_STRICT=1 fails when nothing was built.
.PHONY: release
release:
	CARGO="$(CARGO)" bash scripts/release.sh
