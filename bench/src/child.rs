//! Figures measured in a child process: a fresh process for peak memory, or another build of
//! this benchmark for the size profile's speed.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs `exe` with `args` and returns its standard output, or why it failed (cannot start,
/// or exited unsuccessfully, with its standard error).
pub fn output<I, S>(exe: &Path, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_stdout_or_the_failure() {
        let sh = Path::new("/bin/sh");
        assert_eq!(output(sh, ["-c", "echo 42"]).as_deref(), Ok("42\n"));
        let err = output(sh, ["-c", "echo broken >&2; exit 3"]).unwrap_err();
        assert!(err.contains("broken"), "{err}");
        assert!(output(Path::new("/nonexistent/exe"), ["x"]).is_err());
    }
}
