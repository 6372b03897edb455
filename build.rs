//! Build information for `tandem --version`: the commit, the enabled features and what llama.cpp is compiled for.

// Cargo reads a build script's stdout.
#![allow(clippy::disallowed_macros)]

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for git in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(git).exists() {
            println!("cargo:rerun-if-changed={git}");
        }
    }
    println!("cargo:rerun-if-env-changed=TANDEM_BUILD_COMMIT");
    let commit = std::env::var("TANDEM_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown (not built from a git checkout)".into());
    let features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_ascii_lowercase())
        })
        .filter(|f| f != "default")
        .collect();
    let features = if features.is_empty() {
        "none (CPU only)".to_string()
    } else {
        features.join(", ")
    };
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let target_features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| target_features.split(',').any(|t| t == f);
    let cpu = match arch.as_str() {
        "x86_64" if has("amx-int8") => {
            "native, with AMX (the engine worker refuses AMX state unless TANDEM_ALLOW_AMX=1)"
                .to_string()
        }
        "x86_64" if has("avx512f") => "native, with AVX-512".to_string(),
        "x86_64" => "x86-64-v3 (AVX2, FMA, F16C, BMI2; no AMX)".to_string(),
        "aarch64" if has("i8mm") => "native aarch64, with dotprod and i8mm".to_string(),
        "aarch64" if has("dotprod") => "native aarch64, with dotprod".to_string(),
        other => format!("{other} baseline"),
    };
    println!("cargo:rustc-env=TANDEM_BUILD_COMMIT_ID={commit}");
    println!("cargo:rustc-env=TANDEM_BUILD_FEATURES={features}");
    println!("cargo:rustc-env=TANDEM_BUILD_CPU={cpu}");
}

/// The checkout's commit; `None` without git or a checkout.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!commit.is_empty()).then_some(commit)
}
