//! Output helpers shared by the demo and the commands.

use fieldsync::{AuthorId, VersionVector};

/// First 8 hex characters of an id: enough to tell devices apart on screen.
pub fn short(id: &impl std::fmt::Display) -> String {
    id.to_string().chars().take(8).collect()
}

/// A version vector as `{ a1b2c3d4: 3, 9f8e7d6c: 2 }`, authors labelled by `name`.
pub fn version(vv: &VersionVector, name: impl Fn(&AuthorId) -> Option<String>) -> String {
    let mut parts: Vec<String> = vv
        .iter()
        .map(|(author, seq)| match name(author) {
            Some(n) => format!("{} ({n}) -> seq {seq}", short(author)),
            None => format!("{} -> seq {seq}", short(author)),
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

/// A version vector as a JSON object: full author id -> highest seq.
pub fn version_json(vv: &VersionVector) -> serde_json::Value {
    vv.iter()
        .map(|(a, s)| (a.to_string(), serde_json::Value::from(*s)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Parses a document's canonical JSON (falls back to a string if it is not JSON).
pub fn json_value(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_owned()))
}

/// Pretty-printed JSON, each line indented by `indent` spaces.
pub fn pretty(s: &str, indent: usize) -> String {
    let text = serde_json::to_string_pretty(&json_value(s)).unwrap_or_else(|_| s.to_owned());
    let pad = " ".repeat(indent);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A moment in milliseconds since the Unix epoch as `2026-12-05 14:03:22 UTC (3 min ago)`.
pub fn since(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(secs);
    let ago = (now - secs).max(0);
    let ago = match ago {
        0..=59 => format!("{ago} s ago"),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => format!("{} h ago", ago / 3600),
        _ => format!("{} days ago", ago / 86_400),
    };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC ({ago})",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A join request's state for a person: who it waits for since when, or why it was refused.
pub fn join_state(state: &fieldsync::JoinState) -> String {
    match state.refused {
        Some(reason) => format!(
            "join refused by {}: {reason} (ask for a new invite)",
            short(&state.inviter)
        ),
        None if state.delivered => format!(
            "admitted by {}; waiting for the document's keys to sync",
            short(&state.inviter)
        ),
        None => format!(
            "waiting for admission by {} since {}",
            short(&state.inviter),
            since(state.requested_at_ms)
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_prints_the_utc_calendar_date() {
        // 2026-12-05 00:51:03 UTC
        assert!(super::since(1_796_431_863_000).starts_with("2026-12-05 00:51:03 UTC ("));
        assert!(super::since(0).starts_with("1970-01-01 00:00:00 UTC ("));
        // A leap day.
        assert!(super::since(951_782_400_000).starts_with("2000-02-29 00:00:00 UTC"));
    }

    use super::*;

    #[test]
    fn pretty_indents_every_line() {
        assert_eq!(pretty(r#"{"a":1}"#, 2), "  {\n    \"a\": 1\n  }");
    }

    #[test]
    fn empty_version_is_braces() {
        assert_eq!(version(&VersionVector::new(), |_| None), "{}");
    }
}
