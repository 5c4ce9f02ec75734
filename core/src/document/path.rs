//! Paths into a document: a root container's name, then map keys and list indices.
//!
//! A path names where a value or container is *now*; a handle obtained through it keeps
//! pointing at the same container when list indices shift (it holds the container's id).

use loro::{ContainerID, Index, LoroDoc, ValueOrContainer};

use crate::document::DocumentError;

/// One step of a [`Path`]: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A key of a map (the first segment of a path is a root container's name).
    Key(String),
    /// A position in a list.
    Index(usize),
}

/// A path from the document's root: the root container's name, then keys and indices.
pub type Path = Vec<PathSegment>;

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

impl std::fmt::Display for PathSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathSegment::Key(k) => write!(f, "{k:?}"),
            PathSegment::Index(i) => write!(f, "{i}"),
        }
    }
}

/// Most segments of a path (deeper documents are refused as input).
pub const MAX_DEPTH: usize = 64;

/// Checks that a path is not empty, starts with a root name and is not too deep.
pub(crate) fn check(path: &[PathSegment]) -> Result<(), DocumentError> {
    match path.first() {
        None => Err(DocumentError::InvalidArgument("empty path".into())),
        Some(PathSegment::Index(_)) => Err(DocumentError::InvalidArgument(
            "a path starts with a root container's name".into(),
        )),
        Some(PathSegment::Key(_)) if path.len() > MAX_DEPTH => Err(DocumentError::InvalidArgument(
            format!("path deeper than {MAX_DEPTH}"),
        )),
        Some(PathSegment::Key(name)) if name.is_empty() => Err(DocumentError::InvalidArgument(
            "empty root container name".into(),
        )),
        Some(PathSegment::Key(_)) => Ok(()),
    }
}

fn to_loro(path: &[PathSegment]) -> Vec<Index> {
    path.iter()
        .map(|s| match s {
            PathSegment::Key(k) => Index::Key(k.as_str().into()),
            PathSegment::Index(i) => Index::Seq(*i),
        })
        .collect()
}

/// What is at `path` now: a value, a container, or nothing.
pub(crate) fn get(doc: &LoroDoc, path: &[PathSegment]) -> Option<ValueOrContainer> {
    doc.get_by_path(&to_loro(path))
}

/// The id of the container at `path`, if a container is there.
pub(crate) fn container(doc: &LoroDoc, path: &[PathSegment]) -> Option<ContainerID> {
    match get(doc, path)? {
        ValueOrContainer::Container(c) => Some(loro::ContainerTrait::id(&c)),
        ValueOrContainer::Value(_) => None,
    }
}

/// Segments of Loro path steps.
pub(crate) fn from_loro_steps<'a>(steps: impl Iterator<Item = &'a Index>) -> Path {
    steps
        .map(|i| match i {
            Index::Key(k) => PathSegment::Key(k.to_string()),
            Index::Seq(n) => PathSegment::Index(*n),
            Index::Node(n) => PathSegment::Key(n.to_string()),
        })
        .collect()
}
