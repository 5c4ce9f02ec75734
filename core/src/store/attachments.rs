//! Attachments on disk (migration 12): a row per attachment (its manifest, which chunks are
//! held, whether all are) and a file of its encrypted chunks at their offsets in
//! `<data dir>/attachments/<id>.fsa` (0600 in a 0700 directory). Content stays out of
//! SQLite: a 50 MB photo is written and read in chunks, never as one value.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use p2panda_core::Hash;
use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::DocumentId;
use crate::store::tx::Tx;
use crate::store::{now_millis, private_dir, StoreError};
use crate::wire::attachment::Manifest;

/// Folder of attachment files inside the data directory.
pub const DIR: &str = "attachments";

/// An attachment's row.
#[derive(Clone, Debug)]
pub struct AttachmentRow {
    /// Its manifest.
    pub manifest: Manifest,
    /// One bit per chunk: held (checked against the manifest) or not.
    pub have: Vec<u8>,
    /// Every chunk is held.
    pub complete: bool,
}

impl AttachmentRow {
    /// Whether chunk `index` is held.
    pub fn has(&self, index: u32) -> bool {
        self.have
            .get(index as usize / 8)
            .is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    /// Encrypted bytes held.
    pub fn bytes_held(&self) -> u64 {
        (0..self.manifest.chunks.len() as u32)
            .filter(|i| self.has(*i))
            .map(|i| u64::from(self.manifest.cipher_len(i)))
            .sum()
    }
}

/// A bitmap of `count` chunks, all held or none.
pub fn bitmap(count: usize, all: bool) -> Vec<u8> {
    let mut bits = vec![if all { 0xFF } else { 0 }; count.div_ceil(8)];
    if all && !count.is_multiple_of(8) {
        if let Some(last) = bits.last_mut() {
            *last = (1u8 << (count % 8)) - 1;
        }
    }
    bits
}

/// The folder of attachment files of the database at `db_path`, created 0700.
pub fn folder(db_path: &Path) -> Result<PathBuf, StoreError> {
    let dir = db_path
        .parent()
        .map(|p| p.join(DIR))
        .ok_or_else(|| StoreError::Corrupt("the database has no folder".into()))?;
    private_dir(&dir)?;
    Ok(dir)
}

/// The file of an attachment's encrypted chunks.
pub fn file_of(folder: &Path, id: &Hash) -> PathBuf {
    folder.join(format!("{}.fsa", id.to_hex()))
}

/// Records an attachment (replacing nothing: an id already held keeps its row); a complete
/// one was added on this device, an incomplete one is being fetched.
pub fn insert(
    tx: &Tx<'_>,
    id: &Hash,
    document: DocumentId,
    manifest: &Manifest,
    complete: bool,
) -> Result<bool, StoreError> {
    let have = bitmap(manifest.chunks.len(), complete);
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO attachments
             (id, document, manifest, have, complete, created_at, added_here)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
        )?
        .execute(params![
            id.as_bytes(),
            document.as_bytes(),
            manifest.encode(),
            have,
            complete,
            now_millis()
        ])?
        == 1)
}

/// An attachment's row, if held.
pub fn get(conn: &Connection, id: &Hash) -> Result<Option<AttachmentRow>, StoreError> {
    let row = conn
        .prepare_cached("SELECT manifest, have, complete FROM attachments WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })
        .optional()?;
    row.map(|(m, have, complete)| {
        Ok(AttachmentRow {
            manifest: Manifest::decode(&m).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            have,
            complete,
        })
    })
    .transpose()
}

/// What housekeeping needs of one held attachment.
#[derive(Clone, Debug)]
pub struct HeldAttachment {
    /// Its id.
    pub id: Hash,
    /// The document it came with.
    pub document: DocumentId,
    /// Encrypted bytes held.
    pub bytes: u64,
    /// Added on this device (never evicted).
    pub added_here: bool,
    /// When its row was made (ms since the epoch).
    pub created_at: i64,
}

/// Every attachment held, oldest first.
pub fn all(conn: &Connection) -> Result<Vec<HeldAttachment>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, document, manifest, have, complete, added_here, created_at
         FROM attachments ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let corrupt = |e: String| StoreError::Corrupt(e);
    rows.map(|row| {
        let (id, document, manifest, have, complete, added_here, created_at) = row?;
        let id: [u8; 32] = id.try_into().map_err(|_| corrupt("attachment id".into()))?;
        let manifest = Manifest::decode(&manifest).map_err(|e| corrupt(e.to_string()))?;
        let held = AttachmentRow {
            manifest,
            have,
            complete,
        };
        Ok(HeldAttachment {
            id: Hash::from_bytes(id),
            document: DocumentId::from_slice(&document).map_err(|e| corrupt(e.to_string()))?,
            bytes: held.bytes_held(),
            added_here,
            created_at,
        })
    })
    .collect()
}

/// Ids of the complete attachments of `document`, at most `limit`, oldest first.
pub fn complete_of(
    conn: &Connection,
    document: DocumentId,
    limit: usize,
) -> Result<Vec<Hash>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM attachments WHERE document = ?1 AND complete = 1
         ORDER BY created_at, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![document.as_bytes(), limit as i64], |r| {
        r.get::<_, Vec<u8>>(0)
    })?;
    rows.map(|row| {
        let id: [u8; 32] = row?
            .try_into()
            .map_err(|_| StoreError::Corrupt("attachment id".into()))?;
        Ok(Hash::from_bytes(id))
    })
    .collect()
}

/// Forgets an attachment's row (its file is removed by the caller after the commit).
pub fn delete(tx: &Tx<'_>, id: &Hash) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM attachments WHERE id = ?1")?
        .execute([id.as_bytes()])?;
    Ok(())
}

/// The document an attachment came with, if it is held.
pub fn document_of(conn: &Connection, id: &Hash) -> Result<Option<DocumentId>, StoreError> {
    conn.prepare_cached("SELECT document FROM attachments WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .map(|d| DocumentId::from_slice(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Writes `bytes` (encrypted chunk `index`, already checked against the manifest) into the
/// attachment's file at its offset.
pub fn write_chunk(
    folder: &Path,
    id: &Hash,
    manifest: &Manifest,
    index: u32,
    bytes: &[u8],
) -> Result<(), StoreError> {
    use std::io::Write;
    let mut file = crate::store::private_file(&file_of(folder, id))?;
    file.seek(SeekFrom::Start(manifest.cipher_offset(index)))?;
    file.write_all(bytes)?;
    file.sync_data()?;
    Ok(())
}

/// Marks chunk `index` held; when every chunk is, the attachment is complete. Returns
/// whether it is complete now.
pub fn mark_chunk(tx: &Tx<'_>, id: &Hash, index: u32) -> Result<bool, StoreError> {
    let Some(mut row) = get(tx, id)? else {
        return Err(StoreError::Corrupt("attachment row vanished".into()));
    };
    if let Some(b) = row.have.get_mut(index as usize / 8) {
        *b |= 1 << (index % 8);
    }
    let complete = (0..row.manifest.chunks.len() as u32).all(|i| row.has(i));
    tx.prepare_cached("UPDATE attachments SET have = ?2, complete = ?3 WHERE id = ?1")?
        .execute(params![id.as_bytes(), row.have, complete])?;
    Ok(complete)
}

/// Reads encrypted chunk `index` from the attachment's file.
pub fn read_chunk(
    folder: &Path,
    id: &Hash,
    manifest: &Manifest,
    index: u32,
) -> Result<Vec<u8>, StoreError> {
    let mut file = std::fs::File::open(file_of(folder, id))?;
    file.seek(SeekFrom::Start(manifest.cipher_offset(index)))?;
    let mut buf = vec![0; manifest.cipher_len(index) as usize];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bitmap_marks_exactly_its_chunks() {
        assert_eq!(bitmap(10, true), vec![0xFF, 0x03]);
        assert_eq!(bitmap(8, true), vec![0xFF]);
        assert_eq!(bitmap(3, false), vec![0]);
    }
}
