//! A description of the machine the figures were measured on.

use std::process::Command;

fn first_line_with(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    })
}

fn command(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One line per fact: CPU model, cores, memory, kernel, rustc.
pub fn describe() -> Vec<(String, String)> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    vec![
        (
            "CPU".into(),
            first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        ),
        ("Cores available".into(), cores),
        (
            "Memory".into(),
            first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into()),
        ),
        (
            "Kernel".into(),
            command("uname", &["-sr"]).unwrap_or_else(|| "unknown".into()),
        ),
        (
            "rustc".into(),
            command("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
        ),
        (
            "Build".into(),
            if cfg!(debug_assertions) {
                "debug (figures not representative)".into()
            } else {
                "release".into()
            },
        ),
    ]
}
