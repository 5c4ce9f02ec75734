//! Link options of the shipped library.
//!
//! The size profile (`release-small`, opt-level "z") links the cdylib with identical code
//! folding (`--icf=all`: functions with the same machine code are kept once; Rust gives
//! function addresses no identity, so nothing depends on them being distinct). It saved
//! ~0.15 MB of the 15 MB library (`make bench`, section 6). Only where the linker is LLVM's
//! lld: the Android NDK's, and Rust's own on x86_64 Linux (the default since Rust 1.90).
//! Apple platforms link the static library with their own linker and are left as they are.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let small = matches!(var("OPT_LEVEL").as_str(), "z" | "s");
    let os = var("CARGO_CFG_TARGET_OS");
    let lld = os == "android"
        || (os == "linux"
            && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
            && var("CARGO_CFG_TARGET_ENV") == "gnu");
    if small && lld {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
}
