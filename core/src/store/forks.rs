//! The `forks` table: evidence that an author equivocated, i.e. signed two different
//! operations for one position of one of its logs. One row per (document, author, log
//! kind), holding the proof of the lowest forked seq known: the log is frozen there (see
//! `replica/forks.rs`), so a proof at a higher seq adds nothing.

use rusqlite::{params, Connection};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::{LogId, LogKind};
use crate::store::tx::Tx;
use crate::store::StoreError;

/// Two signed headers of one author for one log position (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The document.
    pub document: DocumentId,
    /// The equivocating author.
    pub author: AuthorId,
    /// Which of the author's logs.
    pub kind: LogKind,
    /// The position both operations claim.
    pub seq: u32,
    /// Encoded header of one of the two operations (the one this replica held, when it
    /// found the fork itself).
    pub kept: Vec<u8>,
    /// Encoded header of the other operation.
    pub refused: Vec<u8>,
}

/// Records `evidence` unless the author's log already has some at the same or a lower seq.
/// Returns whether it was recorded (new, or lowering the log's fork seq).
pub fn record(tx: &Tx<'_>, evidence: &ForkEvidence) -> Result<bool, StoreError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO forks (document, author, kind, seq, kept, refused, detected_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (document, author, kind) DO UPDATE
             SET seq = excluded.seq, kept = excluded.kept, refused = excluded.refused,
                 detected_at = excluded.detected_at
             WHERE excluded.seq < forks.seq",
        )?
        .execute(params![
            evidence.document.as_bytes(),
            evidence.author.as_bytes(),
            evidence.kind.code(),
            evidence.seq,
            evidence.kept,
            evidence.refused,
            now
        ])?;
    Ok(inserted == 1)
}

/// The fork evidence held for `document`, by author.
pub fn of_document(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<ForkEvidence>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, kind, seq, kept, refused FROM forks WHERE document = ?1 ORDER BY author, kind",
    )?;
    let rows = stmt.query_map(params![document.as_bytes()], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (author, kind, seq, kept, refused) = row?;
        out.push(ForkEvidence {
            document,
            author: AuthorId::from_slice(&author)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kind: LogKind::from_code(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown log kind {kind}")))?,
            seq,
            kept,
            refused,
        });
    }
    Ok(out)
}

/// Every forked log, with the seq it is frozen at (from the first one on, its operations are
/// refused).
pub fn frozen_logs(conn: &Connection) -> Result<Vec<(LogId, u32)>, StoreError> {
    let mut stmt = conn.prepare("SELECT document, author, kind, seq FROM forks")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, u32>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (document, author, kind, seq) = row?;
        let corrupt = |e: String| StoreError::Corrupt(e);
        let document = DocumentId::from_slice(&document).map_err(|e| corrupt(e.to_string()))?;
        let author = AuthorId::from_slice(&author).map_err(|e| corrupt(e.to_string()))?;
        let kind =
            LogKind::from_code(kind).ok_or_else(|| corrupt(format!("unknown log kind {kind}")))?;
        out.push(((author, document, kind), seq));
    }
    Ok(out)
}

/// Forgets the evidence of a deleted document.
pub fn delete_document(tx: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM forks WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}
