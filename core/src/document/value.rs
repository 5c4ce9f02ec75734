//! Scalar values stored in maps and lists.

use loro::LoroValue;

use crate::document::DocumentError;

/// A scalar value held in a map entry or list item.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// JSON null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float (must be finite).
    Double(f64),
    /// A UTF-8 string.
    String(String),
}

impl Value {
    pub(crate) fn into_loro(self) -> Result<LoroValue, DocumentError> {
        Ok(match self {
            Value::Null => LoroValue::Null,
            Value::Bool(b) => LoroValue::Bool(b),
            Value::Int(i) => LoroValue::I64(i),
            Value::Double(d) if d.is_finite() => LoroValue::Double(d),
            Value::Double(_) => {
                return Err(DocumentError::InvalidArgument(
                    "non-finite numbers cannot be stored".into(),
                ))
            }
            Value::String(s) => LoroValue::from(s),
        })
    }

    pub(crate) fn from_loro(v: LoroValue) -> Value {
        match v {
            LoroValue::Null => Value::Null,
            LoroValue::Bool(b) => Value::Bool(b),
            LoroValue::I64(i) => Value::Int(i),
            LoroValue::Double(d) => Value::Double(d),
            LoroValue::String(s) => Value::String(s.to_string()),
            other => Value::String(
                serde_json::to_string(&other).unwrap_or_else(|_| String::from("null")),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}
