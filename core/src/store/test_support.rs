//! Helpers shared by the store modules' unit tests.

use p2panda_core::SigningKey;

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::store::tx::Tx;
use crate::store::Store;
use crate::wire::operation::{build_operation, FsOperation};

pub(crate) fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &[9; 32]).unwrap();
    (dir, store)
}

/// Runs `f` in a committed transaction.
pub(crate) fn write<T>(store: &mut Store, f: impl FnOnce(&Tx<'_>) -> T) -> T {
    let tx = store.transaction().unwrap();
    let out = f(&tx);
    tx.commit().unwrap();
    out
}

pub(crate) fn author(key: &SigningKey) -> AuthorId {
    AuthorId::from(key.verifying_key())
}

/// `n` chained operations of one log, seq 0 to n - 1, with distinct bodies.
pub(crate) fn chain(
    key: &SigningKey,
    document: DocumentId,
    kind: LogKind,
    n: u32,
) -> Vec<FsOperation> {
    let mut previous = None;
    (0..n)
        .map(|seq| {
            let op = build_operation(
                key,
                document,
                kind,
                previous,
                vec![kind.code() as u8, seq as u8],
            );
            previous = Some((seq, op.hash));
            op
        })
        .collect()
}
