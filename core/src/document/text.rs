//! Text inserts as operations every replica can apply in time linear in their length.
//!
//! Loro 1.17 applies an insert that is concurrent with the receiver's own history through
//! its text tracker, whose cost grows with the *square* of one insert operation's length
//! (`IdToCursor::update_insert_batch`, called per split of the inserted run). One 1 MiB
//! insert took 14 s and 400 MB to import on a replica with a concurrent edit anywhere in
//! the document, a 5 MiB one "never" ended (issue #23); the same text as 1,024-character
//! pieces imports in 0.10 s (5 MiB) and 0.37 s (15 MiB).
//!
//! So a long insert is written as pieces of at most [`PIECE_CHARS`] characters, inserted
//! last piece first at the same position: the text reads the same, and Loro cannot merge the
//! pieces back into one operation (it merges an insert only into the one just before it in
//! the text). All pieces are in the same transaction, so they still travel as one
//! operation. Concurrent inserts elsewhere at that position never land between pieces: each
//! piece is inserted directly before the next one.

use loro::LoroText;

use crate::document::DocumentError;

/// Most characters of one Loro insert operation written by this SDK.
pub(crate) const PIECE_CHARS: usize = 1024;

/// Inserts `s` at character position `pos` of `text` in pieces of at most
/// [`PIECE_CHARS`] characters (see the module documentation).
pub(crate) fn insert(text: &LoroText, pos: usize, s: &str) -> Result<(), DocumentError> {
    let starts: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .step_by(PIECE_CHARS)
        .collect();
    let mut end = s.len();
    for &start in starts.iter().rev() {
        text.insert(pos, &s[start..end])
            .map_err(|e| DocumentError::Engine(e.to_string()))?;
        end = start;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loro::LoroDoc;

    #[test]
    fn long_inserts_read_the_same_and_stay_in_pieces() {
        for len in [
            0,
            1,
            PIECE_CHARS - 1,
            PIECE_CHARS,
            PIECE_CHARS + 1,
            5 * PIECE_CHARS + 7,
        ] {
            let doc = LoroDoc::new();
            let text = doc.get_text("t");
            text.insert(0, "ab").unwrap();
            // Multi-byte characters, so pieces are cut on character boundaries.
            let s: String = (0..len).map(|i| ['x', 'é', '字', '🙂'][i % 4]).collect();
            insert(&text, 1, &s).unwrap();
            doc.commit();
            assert_eq!(text.to_string(), format!("a{s}b"), "len {len}");
            assert_eq!(text.len_unicode(), len + 2);
        }
    }

    /// The pieces are separate operations, so a receiver with concurrent history imports
    /// 1 MiB quickly (one 1 MiB operation took seconds even in a release build).
    #[test]
    fn a_megabyte_insert_imports_quickly_beside_concurrent_history() {
        let (a, b) = (LoroDoc::new(), LoroDoc::new());
        a.get_text("t").insert(0, "shared").unwrap();
        a.commit();
        b.import(&a.export(loro::ExportMode::all_updates()).unwrap())
            .unwrap();
        // B's concurrent edit, in another container.
        b.get_list("l").push(1).unwrap();
        b.commit();
        let before = a.oplog_vv();
        insert(&a.get_text("big"), 0, &"x".repeat(1 << 20)).unwrap();
        a.commit();
        let update = a.export(loro::ExportMode::updates(&before)).unwrap();
        let t0 = std::time::Instant::now();
        b.import(&update).unwrap();
        let took = t0.elapsed();
        assert_eq!(b.get_text("big").len_unicode(), 1 << 20);
        // Debug build: the pieces took 0.1 s here, one operation of the same text 16 s.
        assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
    }
}
