//! Attachments (issue #29): files and bytes kept beside a document, end-to-end encrypted
//! with a key of their own that travels inside the document (see `wire/attachment.rs`).
//!
//! Adding one reads the content once, a chunk at a time: each chunk is sealed
//! (`crypto/attachment.rs`), hashed and written to the attachment's file; the manifest of
//! the chunk hashes gives the id. The app puts the returned reference (a string) in any map
//! or list of the document. Reading checks every chunk against the manifest before opening
//! it, so a damaged file is an error, never wrong content.

use std::io::{Read, Write};

use crate::auth::Role;
use crate::base::ids::DocumentId;
use crate::crypto::attachment::{new_key, open_chunk, seal_chunk};
use crate::document::DocumentError;
use crate::replica::Replica;
use crate::store::attachments::{self, AttachmentRow};
use crate::wire::attachment::{chunks_for, AttachmentRef, Manifest, CHUNK};

fn unavailable(id: &p2panda_core::Hash, reason: impl Into<String>) -> DocumentError {
    DocumentError::AttachmentUnavailable {
        id: id.to_hex(),
        reason: reason.into(),
    }
}

/// Reads up to `buf.len()` bytes, fewer only at the end of `input`.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl Replica {
    /// Adds `size` bytes read from `input` as an attachment of document `id` (this device
    /// must be a writer). Returns its reference. The content is read once, a chunk at a
    /// time; memory does not grow with its size.
    pub(crate) fn add_attachment(
        &self,
        id: DocumentId,
        size: u64,
        mut input: impl Read,
        media_type: &str,
    ) -> Result<AttachmentRef, DocumentError> {
        if size > self.config.max_attachment_bytes {
            return Err(DocumentError::InvalidArgument(format!(
                "attachment of {size} bytes, above the maximum of {}",
                self.config.max_attachment_bytes
            )));
        }
        if media_type.len() > 255 {
            return Err(DocumentError::InvalidArgument(
                "media type longer than 255 bytes".into(),
            ));
        }
        {
            let mut guard = self.lock();
            self.ensure_live(&guard, id)?;
            self.require_role(&mut guard, id, Role::Writer)?;
        }
        let folder = attachments::folder(&self.db_path())?;
        let key = new_key();
        let count = chunks_for(size, CHUNK);
        let count32 = u32::try_from(count)
            .map_err(|_| DocumentError::InvalidArgument("attachment too large".into()))?;
        // Written under a temporary name, renamed once the id (the manifest's hash) is known.
        let temp = folder.join(format!(".adding-{:016x}", rand::random::<u64>()));
        let written = (|| -> Result<Manifest, DocumentError> {
            let mut file = crate::store::private_file(&temp)?;
            let mut buf = vec![0u8; CHUNK as usize];
            let mut hashes = Vec::with_capacity(count as usize);
            let mut total = 0u64;
            for index in 0..count32 {
                let want = (size - total).min(u64::from(CHUNK)) as usize;
                let got = read_full(&mut input, &mut buf[..want])
                    .map_err(|e| DocumentError::InvalidArgument(format!("reading: {e}")))?;
                if got != want {
                    return Err(DocumentError::InvalidArgument(format!(
                        "the input ended after {} of {size} bytes",
                        total + got as u64
                    )));
                }
                total += got as u64;
                let sealed = seal_chunk(&key, index, count32, &buf[..got]);
                hashes.push(p2panda_core::Hash::digest(&sealed));
                file.write_all(&sealed)
                    .map_err(crate::store::StoreError::from)?;
            }
            file.sync_all().map_err(crate::store::StoreError::from)?;
            Ok(Manifest {
                size,
                chunk_size: CHUNK,
                chunks: hashes,
            })
        })();
        let manifest = match written {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        let attachment = manifest.id();
        let path = attachments::file_of(&folder, &attachment);
        std::fs::rename(&temp, &path).map_err(crate::store::StoreError::from)?;
        let mut guard = self.lock();
        let tx = guard.store.transaction()?;
        attachments::insert(&tx, &attachment, id, &manifest, true)?;
        tx.commit()?;
        Ok(AttachmentRef {
            id: attachment,
            key,
            size,
            media_type: media_type.to_string(),
        })
    }

    /// Writes the content of the attachment `r` names to `out`, checking every chunk
    /// against its manifest first. `AttachmentUnavailable` if it is not wholly here.
    pub(crate) fn read_attachment(
        &self,
        r: &AttachmentRef,
        mut out: impl Write,
    ) -> Result<u64, DocumentError> {
        let row = self.attachment_row(r)?;
        if !row.complete {
            return Err(unavailable(
                &r.id,
                format!(
                    "{} of {} bytes are here",
                    row.bytes_held(),
                    row.manifest.cipher_size()
                ),
            ));
        }
        let folder = attachments::folder(&self.db_path())?;
        let count = row.manifest.chunks.len() as u32;
        let mut written = 0u64;
        for index in 0..count {
            let sealed = attachments::read_chunk(&folder, &r.id, &row.manifest, index)
                .map_err(|e| unavailable(&r.id, format!("reading chunk {index}: {e}")))?;
            if p2panda_core::Hash::digest(&sealed) != row.manifest.chunks[index as usize] {
                return Err(unavailable(&r.id, format!("chunk {index} is damaged")));
            }
            let plain = open_chunk(&r.key, index, count, &sealed)
                .map_err(|_| unavailable(&r.id, "the reference's key does not open it"))?;
            out.write_all(&plain)
                .map_err(|e| DocumentError::InvalidArgument(format!("writing: {e}")))?;
            written += plain.len() as u64;
        }
        Ok(written)
    }

    /// The row of the attachment `r` names, checked against the reference.
    pub(crate) fn attachment_row(&self, r: &AttachmentRef) -> Result<AttachmentRow, DocumentError> {
        let row = attachments::get(self.lock().store.conn(), &r.id)?
            .ok_or_else(|| unavailable(&r.id, "not on this device"))?;
        if row.manifest.size != r.size {
            return Err(unavailable(&r.id, "the reference's size does not match"));
        }
        Ok(row)
    }
}

impl Replica {
    /// What this node serves `peer` of attachment `id` for document `document`: its
    /// manifest and which chunks it holds, if the attachment came with that document and
    /// the peer has a role in it.
    pub(crate) fn serve_attachment(
        &self,
        document: DocumentId,
        id: &p2panda_core::Hash,
        peer: &crate::base::ids::AuthorId,
    ) -> Result<Option<AttachmentRow>, crate::store::StoreError> {
        if !self.may_sync(document, peer) {
            return Ok(None);
        }
        let st = self.lock();
        if attachments::document_of(st.store.conn(), id)? != Some(document) {
            return Ok(None);
        }
        attachments::get(st.store.conn(), id)
    }

    /// The attachments of `document` this node holds whole, for `peer` (at most `limit`),
    /// if the peer has a role in the document: what a relay asks for, since it cannot read
    /// the references in the document.
    pub(crate) fn catalog(
        &self,
        document: DocumentId,
        peer: &crate::base::ids::AuthorId,
        limit: usize,
    ) -> Result<Option<Vec<p2panda_core::Hash>>, crate::store::StoreError> {
        if !self.may_sync(document, peer) {
            return Ok(None);
        }
        attachments::complete_of(self.lock().store.conn(), document, limit).map(Some)
    }

    /// Whether attachment `id` is held whole here.
    pub(crate) fn attachment_complete(&self, id: &p2panda_core::Hash) -> bool {
        attachments::get(self.lock().store.conn(), id)
            .ok()
            .flatten()
            .is_some_and(|row| row.complete)
    }

    /// An encrypted chunk this node holds, as stored (the fetcher checks it).
    pub(crate) fn sealed_chunk(
        &self,
        id: &p2panda_core::Hash,
        manifest: &Manifest,
        index: u32,
    ) -> Result<Vec<u8>, crate::store::StoreError> {
        let folder = attachments::folder(&self.db_path())?;
        attachments::read_chunk(&folder, id, manifest, index)
    }

    /// Starts (or resumes) fetching attachment `manifest` of `document`: its row, if new.
    /// Returns the row as held.
    pub(crate) fn begin_fetch(
        &self,
        document: DocumentId,
        manifest: &Manifest,
    ) -> Result<AttachmentRow, DocumentError> {
        let id = manifest.id();
        if manifest.size > self.config.max_attachment_bytes {
            return Err(DocumentError::InvalidArgument(format!(
                "attachment of {} bytes, above the maximum of {}",
                manifest.size, self.config.max_attachment_bytes
            )));
        }
        let mut st = self.lock();
        let tx = st.store.transaction()?;
        attachments::insert(&tx, &id, document, manifest, false)?;
        tx.commit()?;
        attachments::get(st.store.conn(), &id)?.ok_or_else(|| unavailable(&id, "row vanished"))
    }

    /// Keeps chunk `index` of an attachment being fetched, checked against its manifest
    /// first. Returns whether the attachment is complete now; a chunk that does not match
    /// is refused (`AttachmentUnavailable`), nothing kept.
    pub(crate) fn keep_chunk(
        &self,
        manifest: &Manifest,
        index: u32,
        sealed: &[u8],
    ) -> Result<bool, DocumentError> {
        let id = manifest.id();
        let expected = manifest
            .chunks
            .get(index as usize)
            .ok_or_else(|| unavailable(&id, format!("no chunk {index}")))?;
        if sealed.len() != manifest.cipher_len(index) as usize
            || p2panda_core::Hash::digest(sealed) != *expected
        {
            return Err(unavailable(
                &id,
                format!("chunk {index} does not match its hash"),
            ));
        }
        let folder = attachments::folder(&self.db_path())?;
        attachments::write_chunk(&folder, &id, manifest, index, sealed)?;
        let (complete, held, document) = {
            let mut st = self.lock();
            let tx = st.store.transaction()?;
            let complete = attachments::mark_chunk(&tx, &id, index)?;
            tx.commit()?;
            let held = attachments::get(st.store.conn(), &id)?.map_or(0, |row| row.bytes_held());
            (
                complete,
                held,
                attachments::document_of(st.store.conn(), &id)?,
            )
        };
        if let Some(document) = document {
            self.emit(crate::base::events::Event::AttachmentProgress {
                document,
                attachment: id.to_hex(),
                bytes: held,
                total: manifest.cipher_size(),
            });
        }
        Ok(complete)
    }
}
