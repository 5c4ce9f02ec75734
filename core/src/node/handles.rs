//! What every container handle shares: checks of names and positions, and handles of the
//! containers nested in a map or list.
//!
//! A handle names its container by Loro container id, so a handle on a record in a list
//! keeps pointing at that record when items before it are inserted or deleted. Every
//! mutating call is one local commit and becomes one signed operation. A handle whose
//! container was deleted (its parent entry removed, here or by another device) refuses
//! edits with [`DocumentError::ContainerDeleted`] and reads as empty.

use loro::{Container, ContainerTrait, ValueOrContainer};

pub(crate) use crate::document::tree::container_json;

use crate::document::{DocumentError, TextUnit};
use crate::node::{CounterHandle, Document, ListHandle, MapHandle, TextHandle};

const MAX_NAME_BYTES: usize = 256;

pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), DocumentError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(DocumentError::InvalidArgument(format!(
            "{kind} name must be 1..={MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn engine(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

pub(crate) fn bounds(index: usize, len: usize) -> Result<(), DocumentError> {
    if index > len {
        return Err(DocumentError::OutOfBounds { index, len });
    }
    Ok(())
}

pub(crate) fn range(index: usize, count: usize, len: usize) -> Result<(), DocumentError> {
    match index.checked_add(count) {
        Some(end) if end <= len => Ok(()),
        _ => Err(DocumentError::OutOfBounds {
            index: index.saturating_add(count),
            len,
        }),
    }
}

/// Refuses edits of a deleted container.
pub(crate) fn alive<C: ContainerTrait>(c: &C) -> Result<(), DocumentError> {
    if c.is_deleted() {
        return Err(DocumentError::ContainerDeleted);
    }
    Ok(())
}

/// A handle on any container, from a path ([`Document::at`]).
#[derive(Clone, Debug)]
pub enum Handle {
    /// A map.
    Map(MapHandle),
    /// A list.
    List(ListHandle),
    /// A text.
    Text(TextHandle),
    /// A counter.
    Counter(CounterHandle),
}

/// The kinds of nested containers a map or list can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Map,
    List,
    Text,
    Counter,
}

impl Document {
    /// A handle on container `id` (its kind is the id's type).
    pub(crate) fn handle(&self, c: &Container) -> Option<Handle> {
        let id = c.id();
        Some(match c {
            Container::Map(_) => Handle::Map(MapHandle {
                doc: self.clone(),
                id,
            }),
            Container::List(_) => Handle::List(ListHandle {
                doc: self.clone(),
                id,
            }),
            Container::Text(_) => Handle::Text(TextHandle {
                doc: self.clone(),
                id,
                unit: self.replica.config.text_unit,
            }),
            Container::Counter(_) => Handle::Counter(CounterHandle {
                doc: self.clone(),
                id,
            }),
            _ => return None,
        })
    }

    /// The handle of a value that is a container of `kind`.
    pub(crate) fn child(&self, v: Option<ValueOrContainer>, kind: Kind) -> Option<Handle> {
        let ValueOrContainer::Container(c) = v? else {
            return None;
        };
        let h = self.handle(&c)?;
        let matches = matches!(
            (&h, kind),
            (Handle::Map(_), Kind::Map)
                | (Handle::List(_), Kind::List)
                | (Handle::Text(_), Kind::Text)
                | (Handle::Counter(_), Kind::Counter)
        );
        matches.then_some(h)
    }

    /// The text unit handles of this node count in.
    pub(crate) fn unit(&self) -> TextUnit {
        self.replica.config.text_unit
    }
}

impl Handle {
    pub(crate) fn into_map(self) -> Option<MapHandle> {
        match self {
            Handle::Map(h) => Some(h),
            _ => None,
        }
    }
    pub(crate) fn into_list(self) -> Option<ListHandle> {
        match self {
            Handle::List(h) => Some(h),
            _ => None,
        }
    }
    pub(crate) fn into_text(self) -> Option<TextHandle> {
        match self {
            Handle::Text(h) => Some(h),
            _ => None,
        }
    }
    pub(crate) fn into_counter(self) -> Option<CounterHandle> {
        match self {
            Handle::Counter(h) => Some(h),
            _ => None,
        }
    }
}

/// Parses the JSON an app passes, after checking its size.
pub(crate) fn parse_json(doc: &Document, json: &str) -> Result<serde_json::Value, DocumentError> {
    doc.check_size(json.len())?;
    serde_json::from_str(json).map_err(|e| DocumentError::InvalidArgument(format!("JSON: {e}")))
}
