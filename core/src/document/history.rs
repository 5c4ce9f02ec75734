//! A document's history as Loro records it: its versions (one per change), a read-only view
//! at a version, and the changes between two versions.
//!
//! A version is the opaque encoding of a Loro frontier (the last operation of a change);
//! versions from one replica are valid on any replica that holds that change.

use std::ops::ControlFlow;

use loro::{ContainerID, Frontiers, LoroDoc, ValueOrContainer, ID};

use crate::document::change::{self, Change, RawChange, Texts};
use crate::document::units::TextUnit;
use crate::document::{path, tree, DocumentError};

/// A version of a document: the state after one change (opaque bytes, stable across
/// replicas).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub(crate) Vec<u8>);

impl Version {
    /// The version's bytes (to keep it, or pass it through the FFI).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A version from bytes made by [`Version::as_bytes`].
    ///
    /// # Errors
    /// `InvalidArgument` if the bytes do not describe a version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Version, DocumentError> {
        let version = Version(bytes.to_vec());
        version.frontiers()?;
        Ok(version)
    }

    fn frontiers(&self) -> Result<Frontiers, DocumentError> {
        Frontiers::decode(&self.0)
            .map_err(|e| DocumentError::InvalidArgument(format!("not a version: {e}")))
    }

    /// The version's frontiers, if `doc` holds every change they name.
    fn held_in(&self, doc: &LoroDoc) -> Result<Frontiers, DocumentError> {
        let f = self.frontiers()?;
        let held = doc.oplog_vv();
        if f.iter().any(|id| !held.includes_id(id)) {
            return Err(DocumentError::InvalidArgument(
                "this replica does not hold that version".into(),
            ));
        }
        Ok(f)
    }
}

/// One entry of a document's history: a change, and the version it leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The version right after this change.
    pub version: Version,
    /// The Loro peer that made it (see [`crate::AuthorId::loro_peer_id`]); the facade maps
    /// it to the author.
    pub peer: u64,
    /// Seconds since the Unix epoch when the author's device recorded the change, if it
    /// recorded one (FieldSync records it; other Loro programs may not).
    pub timestamp: Option<i64>,
    /// Lamport time of the change (orders causally related changes).
    pub lamport: u32,
    /// Loro operations in the change.
    pub ops: u32,
}

/// The most recent `limit` changes of `doc`, newest first (by Lamport time, then peer).
pub(crate) fn entries(doc: &LoroDoc, limit: usize) -> Result<Vec<HistoryEntry>, DocumentError> {
    let heads: Vec<ID> = doc.oplog_frontiers().iter().collect();
    let mut out = Vec::new();
    doc.travel_change_ancestors(&heads, &mut |meta| {
        let last = ID::new(meta.id.peer, meta.id.counter + meta.len as i32 - 1);
        out.push(HistoryEntry {
            version: Version(Frontiers::from_id(last).encode()),
            peer: meta.id.peer,
            timestamp: (meta.timestamp != 0).then_some(meta.timestamp),
            lamport: meta.lamport,
            ops: meta.len as u32,
        });
        ControlFlow::Continue(())
    })
    .map_err(|e| DocumentError::Engine(e.to_string()))?;
    out.sort_by_key(|e| std::cmp::Reverse((e.lamport, e.peer)));
    out.truncate(limit);
    Ok(out)
}

/// A read-only copy of `doc` at `version`.
pub(crate) fn at(doc: &LoroDoc, version: &Version) -> Result<LoroDoc, DocumentError> {
    let f = version.held_in(doc)?;
    doc.fork_at(&f)
        .map_err(|e| DocumentError::InvalidArgument(format!("version: {e}")))
}

/// The changes from version `from` to version `to` of `doc`, text counted in `unit`.
pub(crate) fn diff(
    doc: &LoroDoc,
    from: &Version,
    to: &Version,
    unit: TextUnit,
) -> Result<Vec<Change>, DocumentError> {
    let (a, b) = (from.held_in(doc)?, to.held_in(doc)?);
    let batch = doc
        .diff(&a, &b)
        .map_err(|e| DocumentError::Engine(e.to_string()))?;
    let base = doc
        .fork_at(&a)
        .map_err(|e| DocumentError::Engine(e.to_string()))?;
    let after = doc
        .fork_at(&b)
        .map_err(|e| DocumentError::Engine(e.to_string()))?;
    let mut texts = Texts::of(&base);
    // Where each container is: at `to` if it is there, else at `from`.
    let locate = |id: &ContainerID| -> (Vec<ContainerID>, path::Path) {
        match after
            .get_path_to_container(id)
            .or_else(|| base.get_path_to_container(id))
        {
            Some(steps) => (
                steps.iter().map(|(c, _)| c.clone()).collect(),
                path::from_loro_steps(steps.iter().map(|(_, i)| i)),
            ),
            None => (Vec::new(), change::detached_path(id)),
        }
    };
    // Inserted containers read as they are at `to` (the diff's handles are the live
    // document's).
    let json = |v: &ValueOrContainer| -> String {
        let at_to = match v {
            ValueOrContainer::Container(c) => {
                tree::container_json(&after, &loro::ContainerTrait::id(c)).ok()
            }
            ValueOrContainer::Value(_) => None,
        };
        at_to.unwrap_or_else(|| change::live_json(v))
    };
    let located: Vec<change::Located<'_>> = batch
        .iter()
        .map(|(id, d)| {
            let (containers, path) = locate(id);
            change::Located {
                target: id,
                containers,
                path,
                diff: d,
            }
        })
        .collect();
    let out: Vec<RawChange> = change::of_event(&mut texts, located, &json)
        .map_err(|_| DocumentError::Engine("text diff out of step".into()))?;
    Ok(out.iter().map(|c| c.project(unit)).collect())
}
