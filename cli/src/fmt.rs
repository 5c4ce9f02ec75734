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

#[cfg(test)]
mod tests {
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
