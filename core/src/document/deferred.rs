//! Loro updates of a batch of received operations, imported together at the end of the batch.
//!
//! Importing a received update one at a time cost more than everything else an operation
//! goes through after its signature check (Loro computes and applies a state diff per
//! import). A batch of received operations ((`Replica::ingest_decoded_batch`))
//! therefore stores each operation as it is validated and collects its decrypted update
//! here; at the end, each run of consecutive updates by one author to one document goes into
//! one import ([`Run::import_into`]), after the attribution of each of its updates (an update
//! carries only its author's Loro changes) was checked on all cores. If any run fails, the
//! caller rolls the whole batch back and ingests it again one operation at a time, which
//! refuses exactly the faulty operations.

use loro::{LoroDoc, LoroResult};

use crate::base::ids::{AuthorId, DocumentId};

/// Consecutive updates of one author to one document.
pub(crate) struct Run {
    /// The document the updates belong to.
    pub document: DocumentId,
    /// The author of every update of the run.
    pub author: AuthorId,
    /// Decrypted Loro updates, in arrival order.
    pub updates: Vec<Vec<u8>>,
}

impl Run {
    /// Imports the run's updates into `doc`, in order, and applies them to its state once.
    ///
    /// What `LoroDoc::import_batch` does, without its first pass, which decodes every update
    /// in full (in a scratch document each) only to sort them: a run is one author's log in
    /// order already. The updates go into the OpLog while the document is detached; the
    /// state then catches up in one checkout, also when an import fails part-way (the caller
    /// then drops the document, whose OpLog holds the updates before the failing one).
    ///
    /// `one_by_one` imports each update attached instead (each a Loro import event): the
    /// detached import's final checkout empties Loro's undo stacks.
    pub(crate) fn import_into(&self, doc: &LoroDoc, one_by_one: bool) -> LoroResult<()> {
        if one_by_one || self.updates.len() == 1 {
            return self
                .updates
                .iter()
                .try_for_each(|update| doc.import(update).map(drop));
        }
        doc.detach();
        let imported = self
            .updates
            .iter()
            .try_for_each(|update| doc.import(update).map(drop));
        doc.attach();
        imported
    }
}

/// The updates collected during one batch, in runs.
#[derive(Default)]
pub(crate) struct DeferredImports {
    runs: Vec<Run>,
}

impl DeferredImports {
    /// Adds an update, extending the last run when it has the same author and document.
    pub(crate) fn push(&mut self, document: DocumentId, author: AuthorId, update: Vec<u8>) {
        match self.runs.last_mut() {
            Some(run) if run.document == document && run.author == author => {
                run.updates.push(update)
            }
            _ => self.runs.push(Run {
                document,
                author,
                updates: vec![update],
            }),
        }
    }

    /// True if no update was collected.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs, in order.
    pub(crate) fn into_runs(self) -> Vec<Run> {
        self.runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2panda_core::SigningKey;

    /// Three one-change updates of one Loro peer, in order.
    fn updates_of_one_peer() -> (LoroDoc, Vec<Vec<u8>>) {
        let source = LoroDoc::new();
        source.set_peer_id(7).unwrap();
        let mut updates = Vec::new();
        for (i, ch) in ["a", "b", "c"].into_iter().enumerate() {
            let before = source.oplog_vv();
            source.get_text("t").insert(i, ch).unwrap();
            source.commit();
            updates.push(source.export(loro::ExportMode::updates(&before)).unwrap());
        }
        (source, updates)
    }

    fn run_of(updates: Vec<Vec<u8>>) -> Run {
        Run {
            document: DocumentId::random(),
            author: AuthorId::from(SigningKey::generate().verifying_key()),
            updates,
        }
    }

    #[test]
    fn a_run_imports_into_the_state_and_leaves_the_document_attached() {
        let (source, updates) = updates_of_one_peer();
        let doc = LoroDoc::new();
        run_of(updates).import_into(&doc, false).unwrap();
        assert!(!doc.is_detached());
        assert_eq!(doc.get_deep_value(), source.get_deep_value());
        assert_eq!(doc.oplog_vv(), source.oplog_vv());
        // Still editable after the detached import.
        doc.get_text("t").insert(3, "d").unwrap();
        assert_eq!(doc.get_text("t").to_string(), "abcd");
    }

    #[test]
    fn a_failing_update_is_reported_and_the_document_stays_attached() {
        let (_, mut updates) = updates_of_one_peer();
        updates[1] = vec![0x6c, 0x6f, 0x72, 0x6f, 1, 2, 3];
        let doc = LoroDoc::new();
        assert!(run_of(updates).import_into(&doc, false).is_err());
        assert!(!doc.is_detached());
        assert_eq!(doc.get_text("t").to_string(), "a");
    }

    #[test]
    fn consecutive_updates_of_one_author_and_document_form_one_run() {
        let a = AuthorId::from(SigningKey::generate().verifying_key());
        let b = AuthorId::from(SigningKey::generate().verifying_key());
        let (d1, d2) = (DocumentId::random(), DocumentId::random());
        let mut d = DeferredImports::default();
        assert!(d.is_empty());
        for (doc, author, byte) in [(d1, a, 1), (d1, a, 2), (d1, b, 3), (d2, b, 4), (d1, a, 5)] {
            d.push(doc, author, vec![byte]);
        }
        let runs = d.into_runs();
        let shape: Vec<(DocumentId, AuthorId, Vec<Vec<u8>>)> = runs
            .into_iter()
            .map(|r| (r.document, r.author, r.updates))
            .collect();
        assert_eq!(
            shape,
            vec![
                (d1, a, vec![vec![1], vec![2]]),
                (d1, b, vec![vec![3]]),
                (d2, b, vec![vec![4]]),
                (d1, a, vec![vec![5]]),
            ]
        );
    }
}
