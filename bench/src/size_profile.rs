//! Speed of the size profile (`release-small`: opt-level "z", LTO, stripped), the profile of
//! the library measured in figure 6. The same benchmark, built with that profile, measures
//! the hot in-process figures in a child process, so that a profile setting that slows a hot
//! path shows in the table next to the bytes it saves (opt-level "z" on the curve arithmetic
//! once made decoding and verifying received operations 45x slower).

use std::path::Path;

/// Hidden subcommand the child runs: `fieldsync-bench size-profile-rates N`.
pub const CHILD: &str = "size-profile-rates";

/// Rates measured by a build of this benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Received operations decoded and verified per second (`local::verify_rate`).
    pub verify: f64,
    /// Encrypted operations ingested per second in batches, in-process.
    pub ingest: f64,
}

/// Child side: measures both rates over `n` operations and formats them for [`parse`].
pub fn child(n: usize) -> String {
    format!(
        "{} {}",
        crate::local::verify_rate(n),
        crate::local::ingest(n, true, true)
    )
}

/// Parses the child's output, `<verify> <ingest>` in operations per second.
pub fn parse(output: &str) -> Option<Rates> {
    let mut parts = output.split_whitespace().map(|p| p.parse::<f64>().ok());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Some(verify)), Some(Some(ingest)), None) if verify > 0.0 && ingest > 0.0 => {
            Some(Rates { verify, ingest })
        }
        _ => None,
    }
}

/// Mean of each rate over `runs` (zero rates for no runs).
pub fn mean(runs: &[Rates]) -> Rates {
    let count = runs.len().max(1) as f64;
    Rates {
        verify: runs.iter().map(|r| r.verify).sum::<f64>() / count,
        ingest: runs.iter().map(|r| r.ingest).sum::<f64>() / count,
    }
}

/// Runs the size-profile build `exe` on `n` operations and returns its rates.
pub fn measure(exe: &Path, n: usize) -> Result<Rates, String> {
    let stdout = crate::child::output(exe, [CHILD.to_string(), n.to_string()])?;
    parse(&stdout).ok_or_else(|| format!("unexpected output {stdout:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_positive_rates_only() {
        assert_eq!(
            parse("13812.5 12000\n"),
            Some(Rates {
                verify: 13812.5,
                ingest: 12000.0
            })
        );
        assert_eq!(parse("13812.5"), None);
        assert_eq!(parse("1 2 3"), None);
        assert_eq!(parse("0 2"), None);
        assert_eq!(parse("x 2"), None);
    }

    #[test]
    fn mean_of_rates() {
        let runs = [
            Rates {
                verify: 10.0,
                ingest: 4.0,
            },
            Rates {
                verify: 20.0,
                ingest: 6.0,
            },
        ];
        assert_eq!(
            mean(&runs),
            Rates {
                verify: 15.0,
                ingest: 5.0
            }
        );
    }
}
