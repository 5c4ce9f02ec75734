//! Scalar values stored in maps and lists.

/// A scalar value held in a map entry or a list item.
///
/// Kotlin: `Value.Int(value = 3L)`, Swift: `.int(value: 3)`.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum Value {
    /// JSON null.
    Null,
    /// A boolean.
    Bool {
        /// The boolean.
        value: bool,
    },
    /// A 64-bit signed integer.
    Int {
        /// The integer.
        value: i64,
    },
    /// A 64-bit float; NaN and infinities are rejected with `InvalidArgument`.
    Double {
        /// The float.
        value: f64,
    },
    /// A UTF-8 string (may be empty; its size is bounded by the maximum operation size).
    String {
        /// The string.
        value: String,
    },
}

impl From<Value> for fieldsync::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => fieldsync::Value::Null,
            Value::Bool { value } => fieldsync::Value::Bool(value),
            Value::Int { value } => fieldsync::Value::Int(value),
            Value::Double { value } => fieldsync::Value::Double(value),
            Value::String { value } => fieldsync::Value::String(value),
        }
    }
}

impl From<fieldsync::Value> for Value {
    fn from(v: fieldsync::Value) -> Self {
        match v {
            fieldsync::Value::Null => Value::Null,
            fieldsync::Value::Bool(value) => Value::Bool { value },
            fieldsync::Value::Int(value) => Value::Int { value },
            fieldsync::Value::Double(value) => Value::Double { value },
            fieldsync::Value::String(value) => Value::String { value },
        }
    }
}
