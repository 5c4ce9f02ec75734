//! [`TextHandle`]: a collaborative text, positions counted in the handle's unit.

use loro::{ContainerID, LoroDoc, LoroText};

use crate::document::units::{self, TextUnit};
use crate::document::{text, DocumentError};
use crate::node::handles::{alive, engine};
use crate::node::Document;

/// A collaborative text. Positions and lengths count in the handle's [`TextUnit`] (the
/// node's `NodeConfig::text_unit` unless [`TextHandle::with_unit`] says otherwise); a
/// position inside a character is refused with `InvalidArgument`.
#[derive(Clone)]
pub struct TextHandle {
    pub(crate) doc: Document,
    pub(crate) id: ContainerID,
    pub(crate) unit: TextUnit,
}

impl std::fmt::Debug for TextHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextHandle({}, {:?})", self.id, self.unit)
    }
}

impl TextHandle {
    /// The same text, positions counted in `unit`.
    pub fn with_unit(&self, unit: TextUnit) -> TextHandle {
        TextHandle {
            unit,
            ..self.clone()
        }
    }

    /// The unit positions count in.
    pub fn unit(&self) -> TextUnit {
        self.unit
    }

    fn text(&self, d: &LoroDoc) -> LoroText {
        d.get_text(self.id.clone())
    }

    /// Inserts `s` at position `pos`.
    pub fn insert(&self, pos: usize, s: &str) -> Result<(), DocumentError> {
        self.doc.check_size(s.len())?;
        let (id, unit) = (self.id.clone(), self.unit);
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(id);
            alive(&t)?;
            let at = match unit {
                TextUnit::Unicode => {
                    crate::node::handles::bounds(pos, t.len_unicode())?;
                    pos
                }
                _ => units::to_unicode(&t.to_string(), unit, pos)?,
            };
            text::insert(&t, at, s)
        })
    }

    /// Appends `s` at the end.
    pub fn push(&self, s: &str) -> Result<(), DocumentError> {
        self.doc.check_size(s.len())?;
        let id = self.id.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(id);
            alive(&t)?;
            text::insert(&t, t.len_unicode(), s)
        })
    }

    /// Deletes `len` units starting at `pos`.
    pub fn delete(&self, pos: usize, len: usize) -> Result<(), DocumentError> {
        let (id, unit) = (self.id.clone(), self.unit);
        self.doc.edit(move |d: &LoroDoc| {
            let t = d.get_text(id);
            alive(&t)?;
            let (start, count) = match unit {
                TextUnit::Unicode => {
                    crate::node::handles::range(pos, len, t.len_unicode())?;
                    (pos, len)
                }
                _ => units::range_to_unicode(&t.to_string(), unit, pos, len)?,
            };
            t.delete(start, count).map_err(engine)
        })
    }

    /// The current text.
    pub fn get(&self) -> Result<String, DocumentError> {
        self.doc.read(|d| Ok(self.text(d).to_string()))
    }

    /// Length in the handle's unit.
    pub fn len(&self) -> Result<usize, DocumentError> {
        self.doc.read(|d| {
            let t = self.text(d);
            Ok(match self.unit {
                TextUnit::Unicode => t.len_unicode(),
                TextUnit::Utf16 => t.len_utf16(),
                TextUnit::Utf8 => t.len_utf8(),
            })
        })
    }

    /// True if the text is empty.
    pub fn is_empty(&self) -> Result<bool, DocumentError> {
        Ok(self.len()? == 0)
    }
}
