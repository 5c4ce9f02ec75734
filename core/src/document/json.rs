//! The canonical JSON of a document: what apps, the CLI and tests compare between replicas.

use loro::LoroDoc;

use crate::document::DocumentError;

/// Canonical JSON of a Loro document (see [`crate::Document::to_json`]).
pub(crate) fn canonical_json(d: &LoroDoc) -> Result<String, DocumentError> {
    let engine = |e: serde_json::Error| DocumentError::Engine(e.to_string());
    let mut value = serde_json::to_value(d.get_deep_value()).map_err(engine)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|_, v| match v {
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            // A root number is a counter: at 0 it reads like one never touched.
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        });
    }
    serde_json::to_string(&value).map_err(engine)
}
