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

/// Runs this benchmark with `args` in a fresh user + network namespace (`unshare -rn`) with
/// its loopback up, and returns its standard output, or why it failed.
pub fn in_namespace<I, S>(args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut command = vec![
        OsStr::new("-rn").to_os_string(),
        "sh".into(),
        "-c".into(),
        "ip link set lo up && exec \"$0\" \"$@\"".into(),
        me.into_os_string(),
    ];
    command.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    output(Path::new("unshare"), command)
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

    #[test]
    fn runs_this_executable_in_a_namespace_of_its_own() {
        if !crate::idle::available() {
            println!("SKIPPED: no user and network namespaces here");
            return;
        }
        // The test binary lists its tests from inside the namespace.
        let listed = in_namespace(["--list", "--format", "terse"]).expect("namespaced run");
        assert!(
            listed.contains("child::tests::returns_stdout_or_the_failure"),
            "{listed}"
        );
        assert!(in_namespace(["--no-such-flag"]).is_err());
    }
}
