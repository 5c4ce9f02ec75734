//! Loro updates of a batch of received operations, imported together at the end of the batch.
//!
//! Importing a received update one at a time cost more than everything else an operation
//! goes through after its signature check (Loro computes and applies a state diff per
//! import). A batch of received operations ([`crate::node::NodeInner::ingest_decoded_batch`])
//! therefore stores each operation as it is validated and collects its decrypted update
//! here; at the end, each run of consecutive updates by one author to one document goes into
//! one `import_batch`, after the attribution of each of its updates (an update carries only
//! its author's Loro changes) was checked on all cores. If any run fails, the caller rolls
//! the whole batch back and ingests it again one operation at a time, which refuses exactly
//! the faulty operations.

use crate::ids::{AuthorId, DocumentId};

/// Consecutive updates of one author to one document.
pub(crate) struct Run {
    /// The document the updates belong to.
    pub document: DocumentId,
    /// The author of every update of the run.
    pub author: AuthorId,
    /// Decrypted Loro updates, in arrival order.
    pub updates: Vec<Vec<u8>>,
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
