//! Build script of the Lambda function crates and of the cold-start hello-world (each names it as
//! `build` in its Cargo.toml): links their binaries as fixed-address executables (`-no-pie`) on
//! Linux with glibc — Lambda's `provided.al2023` and the host the cold-start harness runs on.
//!
//! Why: a position-independent executable is relocated by the dynamic loader at every start. Built
//! with the SDK, a function carries 25,000–52,000 relative relocations (reports: 1.2 MB of the
//! bootstrap), and applying them, page by page of copied-on-write data, was the largest piece of
//! start-up left (~0.4 ms of the events function's ~1.5 ms beyond the hello-world's init). A fixed
//! address needs none. The cost, ASLR for the executable's own code and data (shared libraries,
//! heap and stack stay randomised), is recorded in docs/decisions.md.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=Cargo.toml");
}
