//! Typed handles on a document's root containers: text, map and list.
//!
//! Every mutating call is one local commit and becomes one signed operation.

use loro::LoroDoc;

use crate::document::{text, DocumentError, Value};
use crate::node::Document;

const MAX_NAME_BYTES: usize = 256;

pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), DocumentError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(DocumentError::InvalidArgument(format!(
            "{kind} name must be 1..={MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(())
}

fn engine(e: loro::LoroError) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

fn bounds(index: usize, len: usize) -> Result<(), DocumentError> {
    if index > len {
        return Err(DocumentError::OutOfBounds { index, len });
    }
    Ok(())
}

fn range(index: usize, count: usize, len: usize) -> Result<(), DocumentError> {
    match index.checked_add(count) {
        Some(end) if end <= len => Ok(()),
        _ => Err(DocumentError::OutOfBounds {
            index: index.saturating_add(count),
            len,
        }),
    }
}

/// A collaborative text (positions count Unicode scalar values).
#[derive(Clone)]
pub struct TextHandle {
    pub(crate) doc: Document,
    pub(crate) name: String,
}

impl TextHandle {
    /// Inserts `s` at character position `pos`.
    pub fn insert(&self, pos: usize, s: &str) -> Result<(), DocumentError> {
        self.doc.check_size(s.len())?;
        let name = self.name.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(name.as_str());
            bounds(pos, t.len_unicode())?;
            text::insert(&t, pos, s)
        })
    }

    /// Appends `s` at the end.
    pub fn push(&self, s: &str) -> Result<(), DocumentError> {
        self.doc.check_size(s.len())?;
        let name = self.name.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(name.as_str());
            text::insert(&t, t.len_unicode(), s)
        })
    }

    /// Deletes `len` characters starting at `pos`.
    pub fn delete(&self, pos: usize, len: usize) -> Result<(), DocumentError> {
        let name = self.name.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(name.as_str());
            range(pos, len, t.len_unicode())?;
            t.delete(pos, len).map_err(engine)
        })
    }

    /// The current text.
    pub fn get(&self) -> Result<String, DocumentError> {
        let name = self.name.clone();
        self.doc
            .read(move |d| Ok(d.get_text(name.as_str()).to_string()))
    }

    /// Length in characters.
    pub fn len(&self) -> Result<usize, DocumentError> {
        let name = self.name.clone();
        self.doc
            .read(move |d| Ok(d.get_text(name.as_str()).len_unicode()))
    }

    /// True if the text is empty.
    pub fn is_empty(&self) -> Result<bool, DocumentError> {
        Ok(self.len()? == 0)
    }
}

/// A collaborative map from string keys to scalar values.
#[derive(Clone)]
pub struct MapHandle {
    pub(crate) doc: Document,
    pub(crate) name: String,
}

impl MapHandle {
    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: Value) -> Result<(), DocumentError> {
        check_name("key", key)?;
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        let name = self.name.clone();
        self.doc
            .edit(move |d: &LoroDoc| d.get_map(name.as_str()).insert(key, v).map_err(engine))
    }

    /// Removes `key` (no-op if absent).
    pub fn delete(&self, key: &str) -> Result<(), DocumentError> {
        check_name("key", key)?;
        let name = self.name.clone();
        self.doc
            .edit(move |d: &LoroDoc| d.get_map(name.as_str()).delete(key).map_err(engine))
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Value>, DocumentError> {
        let name = self.name.clone();
        let key = key.to_string();
        self.doc.read(move |d| {
            Ok(d.get_map(name.as_str())
                .get(&key)
                .map(|v| Value::from_loro(v.get_deep_value())))
        })
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>, DocumentError> {
        let name = self.name.clone();
        self.doc.read(move |d| {
            let mut keys: Vec<String> = d
                .get_map(name.as_str())
                .keys()
                .map(|k| k.to_string())
                .collect();
            keys.sort();
            Ok(keys)
        })
    }
}

/// A collaborative list of scalar values.
#[derive(Clone)]
pub struct ListHandle {
    pub(crate) doc: Document,
    pub(crate) name: String,
}

impl ListHandle {
    /// Inserts `value` at `index`.
    pub fn insert(&self, index: usize, value: Value) -> Result<(), DocumentError> {
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        let name = self.name.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let l = d.get_list(name.as_str());
            bounds(index, l.len())?;
            l.insert(index, v).map_err(engine)
        })
    }

    /// Appends `value`.
    pub fn push(&self, value: Value) -> Result<(), DocumentError> {
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        let name = self.name.clone();
        self.doc
            .edit(move |d: &LoroDoc| d.get_list(name.as_str()).push(v).map_err(engine))
    }

    /// Deletes `count` items starting at `index`.
    pub fn delete(&self, index: usize, count: usize) -> Result<(), DocumentError> {
        let name = self.name.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let l = d.get_list(name.as_str());
            range(index, count, l.len())?;
            l.delete(index, count).map_err(engine)
        })
    }

    /// The item at `index`, if any.
    pub fn get(&self, index: usize) -> Result<Option<Value>, DocumentError> {
        let name = self.name.clone();
        self.doc.read(move |d| {
            Ok(d.get_list(name.as_str())
                .get(index)
                .map(|v| Value::from_loro(v.get_deep_value())))
        })
    }

    /// Number of items.
    pub fn len(&self) -> Result<usize, DocumentError> {
        let name = self.name.clone();
        self.doc.read(move |d| Ok(d.get_list(name.as_str()).len()))
    }

    /// True if the list is empty.
    pub fn is_empty(&self) -> Result<bool, DocumentError> {
        Ok(self.len()? == 0)
    }
}
