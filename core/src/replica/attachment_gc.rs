//! Attachment housekeeping (issue #29): content no document references any more is
//! deleted, and fetched content past the storage budget is evicted.
//!
//! - **Unreferenced** fetched content is deleted (it can be fetched again); content added
//!   on this device is never deleted unasked (it may exist nowhere else).
//! - **Referenced** means: named by a reference string in the current state of a live
//!   document this node holds. Older versions of a document are not searched: content only
//!   an old version names is deleted here and can be fetched again from a peer that kept
//!   it. An attachment younger than `NodeConfig::attachment_grace` is kept either way (an
//!   app adds the content, then puts its reference in a document). A relay cannot read
//!   references: the attachments of documents it relays count as referenced.
//! - **Budget** (`NodeConfig::attachment_budget_bytes`): while the attachments fetched from
//!   peers hold more encrypted bytes than the budget, the oldest fetched ones are evicted.
//!   Attachments added on this device are never evicted (they may exist nowhere else). An
//!   evicted attachment reads as `DocumentError::AttachmentUnavailable` until fetched again.
//!
//! Rows go in one transaction, then their files; a crash between them leaves files no row
//! names, which the next collection removes.

use std::collections::HashSet;

use loro::LoroValue;
use p2panda_core::Hash;

use crate::document::DocumentError;
use crate::replica::Replica;
use crate::store::attachments::{self, HeldAttachment};
use crate::store::now_millis;
use crate::wire::attachment::{AttachmentRef, REF_PREFIX};

/// What a collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachmentSweep {
    /// Attachments deleted because no document references them.
    pub unreferenced: u64,
    /// Fetched attachments evicted to stay within the storage budget.
    pub evicted: u64,
    /// Encrypted bytes freed.
    pub freed_bytes: u64,
}

impl Replica {
    /// Deletes unreferenced attachments and evicts fetched ones past the budget (see the
    /// module docs).
    pub(crate) fn collect_attachments(&self) -> Result<AttachmentSweep, DocumentError> {
        let held = attachments::all(self.lock().store.conn())?;
        let referenced = self.referenced(&held)?;
        let grace_ms = self.config.attachment_grace.as_millis() as i64;
        let now = now_millis();
        let mut sweep = AttachmentSweep::default();
        let mut doomed: Vec<Hash> = Vec::new();
        let mut kept: Vec<&HeldAttachment> = Vec::new();
        for a in &held {
            // Content added here may exist nowhere else: never deleted unasked.
            if !a.added_here && !referenced.contains(&a.id) && now - a.created_at >= grace_ms {
                sweep.unreferenced += 1;
                sweep.freed_bytes += a.bytes;
                doomed.push(a.id);
            } else {
                kept.push(a);
            }
        }
        let budget = self.config.attachment_budget_bytes;
        self.evict_past_budget(&kept, budget, &mut doomed, &mut sweep);
        self.delete_attachments(&doomed)?;
        self.remove_orphan_files(&held)?;
        Ok(sweep)
    }

    /// Removes attachment files no row names (left by a crash between a collection's
    /// commit and its file removals), once older than the grace period (an attachment
    /// being added gets its file a moment before its row).
    fn remove_orphan_files(&self, held: &[HeldAttachment]) -> Result<(), DocumentError> {
        let folder = attachments::folder(&self.db_path())?;
        let named: HashSet<String> = held
            .iter()
            .map(|a| format!("{}.fsa", a.id.to_hex()))
            .collect();
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".fsa") || named.contains(&name) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= self.config.attachment_grace);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Evicts fetched attachments other than `fetched` (just completed), oldest first,
    /// while they hold more than the budget. Cheap when within the budget.
    pub(crate) fn enforce_attachment_budget(
        &self,
        fetched: &Hash,
    ) -> Result<AttachmentSweep, DocumentError> {
        let held = attachments::all(self.lock().store.conn())?;
        let budget = self.config.attachment_budget_bytes;
        let total: u64 = held.iter().filter(|a| !a.added_here).map(|a| a.bytes).sum();
        if total <= budget {
            return Ok(AttachmentSweep::default());
        }
        let newest = held
            .iter()
            .find(|a| a.id == *fetched)
            .map_or(0, |a| a.bytes);
        let kept: Vec<&HeldAttachment> = held.iter().filter(|a| a.id != *fetched).collect();
        let mut sweep = AttachmentSweep::default();
        let mut doomed = Vec::new();
        self.evict_past_budget(
            &kept,
            budget.saturating_sub(newest),
            &mut doomed,
            &mut sweep,
        );
        self.delete_attachments(&doomed)?;
        Ok(sweep)
    }

    fn evict_past_budget(
        &self,
        kept: &[&HeldAttachment],
        budget: u64,
        doomed: &mut Vec<Hash>,
        sweep: &mut AttachmentSweep,
    ) {
        let mut fetched: u64 = kept.iter().filter(|a| !a.added_here).map(|a| a.bytes).sum();
        // `kept` is oldest first.
        for a in kept.iter().filter(|a| !a.added_here) {
            if fetched <= budget {
                break;
            }
            fetched -= a.bytes;
            sweep.evicted += 1;
            sweep.freed_bytes += a.bytes;
            doomed.push(a.id);
        }
    }

    /// The ids referenced by the current state of the live documents `held` came with.
    fn referenced(&self, held: &[HeldAttachment]) -> Result<HashSet<Hash>, DocumentError> {
        let documents: HashSet<_> = held.iter().map(|a| a.document).collect();
        let mut ids = HashSet::new();
        for document in documents {
            // The lock is taken per document: edits and ingest go on between them.
            let mut guard = self.lock();
            let st = &mut *guard;
            if self.ensure_live(st, document).is_err() {
                continue; // deleted here: nothing references its attachments
            }
            let me = self.author();
            let relay = crate::replica::authz::doc_auth(st, document)
                .map(|auth| auth.role_of(&me) == Some(crate::auth::Role::Relay))
                .unwrap_or(false);
            if relay {
                // A relay cannot read the references: what it carries stays (within the
                // budget).
                ids.extend(held.iter().filter(|a| a.document == document).map(|a| a.id));
                continue;
            }
            let value = self.loaded(st, document)?.loro.get_deep_value();
            refs_in(&value, &mut ids);
        }
        Ok(ids)
    }

    /// Encrypted bytes fetched attachments may still take within the storage budget.
    pub(crate) fn attachment_room(&self) -> u64 {
        let fetched: u64 = attachments::all(self.lock().store.conn())
            .map(|held| held.iter().filter(|a| !a.added_here).map(|a| a.bytes).sum())
            .unwrap_or(u64::MAX);
        self.config.attachment_budget_bytes.saturating_sub(fetched)
    }

    /// Deletes the rows of `ids`, then their files.
    fn delete_attachments(&self, ids: &[Hash]) -> Result<(), DocumentError> {
        if ids.is_empty() {
            return Ok(());
        }
        let folder = attachments::folder(&self.db_path())?;
        {
            let mut st = self.lock();
            let tx = st.store.transaction()?;
            for id in ids {
                attachments::delete(&tx, id)?;
            }
            tx.commit()?;
        }
        for id in ids {
            let _ = std::fs::remove_file(attachments::file_of(&folder, id));
        }
        Ok(())
    }
}

/// Adds the attachment ids the strings of `value` name.
fn refs_in(value: &LoroValue, out: &mut HashSet<Hash>) {
    match value {
        LoroValue::String(s) if s.starts_with(REF_PREFIX) => {
            if let Ok(r) = AttachmentRef::parse(s) {
                out.insert(r.id);
            }
        }
        LoroValue::List(items) => items.iter().for_each(|v| refs_in(v, out)),
        LoroValue::Map(map) => map.values().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}
