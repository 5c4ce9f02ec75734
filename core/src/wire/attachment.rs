//! Attachments on the wire: the reference an app puts in a document, and the manifest that
//! names an attachment's encrypted chunks.
//!
//! - **Manifest**: `"FSM1" | size (u64 BE) | chunk size (u32 BE) | chunk count (u32 BE) |
//!   BLAKE3 of each encrypted chunk (32 bytes each)`. An attachment's id is the BLAKE3 of
//!   its manifest: the content is addressed by a hash of its ciphertext, and every chunk a
//!   peer sends is checked against the manifest before it is kept.
//! - **Reference** (`fsatt1:` then base64url without padding): `id (32) | key (32) | size
//!   (u64 BE) | media type length (u8) | media type`. It travels inside the document, so
//!   only members (who can read the document) learn the key.

use base64::Engine;
use p2panda_core::Hash;

use crate::wire::WireError;

/// Prefix of a reference string.
pub const REF_PREFIX: &str = "fsatt1:";
/// Bytes of plaintext per chunk.
pub const CHUNK: u32 = 256 * 1024;
/// Bytes an encrypted chunk adds (the AEAD tag).
pub const TAG: u32 = 16;
/// Most chunks a manifest may name (64 GiB of content at [`CHUNK`]).
pub const MAX_CHUNKS: u32 = 262_144;
const MAGIC: &[u8; 4] = b"FSM1";

/// An attachment's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Plaintext bytes.
    pub size: u64,
    /// Plaintext bytes per chunk (the last one may be shorter).
    pub chunk_size: u32,
    /// BLAKE3 of each encrypted chunk, in order.
    pub chunks: Vec<Hash>,
}

impl Manifest {
    /// The attachment's id: the BLAKE3 of the encoded manifest.
    pub fn id(&self) -> Hash {
        Hash::digest(self.encode())
    }

    /// Encodes the manifest.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 32 * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_be_bytes());
        for h in &self.chunks {
            out.extend_from_slice(h.as_bytes());
        }
        out
    }

    /// Decodes a manifest, checking that its chunk count fits its size.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let bad = |m: &str| WireError::Malformed(format!("attachment manifest: {m}"));
        if bytes.len() < 20 || &bytes[..4] != MAGIC {
            return Err(bad("not a manifest"));
        }
        let size = u64::from_be_bytes(bytes[4..12].try_into().map_err(|_| bad("size"))?);
        let chunk_size = u32::from_be_bytes(bytes[12..16].try_into().map_err(|_| bad("chunk"))?);
        let count = u32::from_be_bytes(bytes[16..20].try_into().map_err(|_| bad("count"))?);
        if chunk_size == 0 || count > MAX_CHUNKS {
            return Err(bad("chunk size or count out of range"));
        }
        if u64::from(count) != chunks_for(size, chunk_size) {
            return Err(bad("chunk count does not fit the size"));
        }
        let hashes = &bytes[20..];
        if hashes.len() != count as usize * 32 {
            return Err(bad("truncated chunk hashes"));
        }
        let chunks = hashes
            .chunks_exact(32)
            .map(|c| {
                let h: [u8; 32] = c.try_into().unwrap_or([0; 32]);
                Hash::from_bytes(h)
            })
            .collect();
        Ok(Manifest {
            size,
            chunk_size,
            chunks,
        })
    }

    /// Plaintext bytes of chunk `index`.
    pub fn plain_len(&self, index: u32) -> u32 {
        let start = u64::from(index) * u64::from(self.chunk_size);
        self.size
            .saturating_sub(start)
            .min(u64::from(self.chunk_size)) as u32
    }

    /// Encrypted bytes of chunk `index`.
    pub fn cipher_len(&self, index: u32) -> u32 {
        self.plain_len(index) + TAG
    }

    /// Where chunk `index` starts in the file of encrypted chunks.
    pub fn cipher_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.chunk_size + TAG)
    }

    /// Bytes of the file of encrypted chunks.
    pub fn cipher_size(&self) -> u64 {
        self.size + u64::from(TAG) * self.chunks.len() as u64
    }
}

/// Chunks of `size` bytes at `chunk_size` per chunk (an empty attachment has one, empty).
pub fn chunks_for(size: u64, chunk_size: u32) -> u64 {
    size.div_ceil(u64::from(chunk_size)).max(1)
}

/// What a document holds to name an attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    /// The attachment's id (BLAKE3 of its manifest).
    pub id: Hash,
    /// The key its chunks are encrypted with.
    pub key: [u8; 32],
    /// Plaintext bytes.
    pub size: u64,
    /// Media type, as the app gave it (e.g. `image/jpeg`), at most 255 bytes.
    pub media_type: String,
}

impl std::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(
            f,
            "AttachmentRef({}, {} B, {})",
            self.id, self.size, self.media_type
        )
    }
}

impl AttachmentRef {
    /// The reference as the string a document holds.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(73 + self.media_type.len());
        raw.extend_from_slice(self.id.as_bytes());
        raw.extend_from_slice(&self.key);
        raw.extend_from_slice(&self.size.to_be_bytes());
        let media = &self.media_type.as_bytes()[..self.media_type.len().min(255)];
        raw.push(media.len() as u8);
        raw.extend_from_slice(media);
        format!(
            "{REF_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    }

    /// Parses a reference string.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        let bad = |m: &str| WireError::Malformed(format!("attachment reference: {m}"));
        let body = text
            .trim()
            .strip_prefix(REF_PREFIX)
            .ok_or_else(|| bad("does not start with fsatt1:"))?;
        if body.len() > 512 {
            return Err(bad("too long"));
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad("not base64url"))?;
        if raw.len() < 73 {
            return Err(bad("truncated"));
        }
        let id: [u8; 32] = raw[..32].try_into().map_err(|_| bad("id"))?;
        let key: [u8; 32] = raw[32..64].try_into().map_err(|_| bad("key"))?;
        let size = u64::from_be_bytes(raw[64..72].try_into().map_err(|_| bad("size"))?);
        let len = usize::from(raw[72]);
        if raw.len() != 73 + len {
            return Err(bad("media type length"));
        }
        let media_type =
            String::from_utf8(raw[73..].to_vec()).map_err(|_| bad("media type is not UTF-8"))?;
        Ok(AttachmentRef {
            id: Hash::from_bytes(id),
            key,
            size,
            media_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_names_its_chunks() {
        let m = Manifest {
            size: 600 * 1024,
            chunk_size: CHUNK,
            chunks: (0..3u8).map(|i| Hash::digest([i])).collect(),
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.plain_len(0), CHUNK);
        assert_eq!(m.plain_len(2), 600 * 1024 - 2 * CHUNK);
        assert_eq!(m.cipher_offset(1), u64::from(CHUNK + TAG));
        assert_eq!(m.cipher_size(), 600 * 1024 + 3 * u64::from(TAG));
        let mut wrong = m.clone();
        wrong.chunks.pop();
        assert!(
            Manifest::decode(&wrong.encode()).is_err(),
            "count must fit the size"
        );
        let encoded = m.encode();
        for cut in 0..encoded.len() {
            assert!(Manifest::decode(&encoded[..cut]).is_err());
        }
    }

    #[test]
    fn a_reference_round_trips_and_refuses_damage() {
        let r = AttachmentRef {
            id: Hash::digest(b"x"),
            key: [7; 32],
            size: 42,
            media_type: "image/jpeg".into(),
        };
        let text = r.encode();
        assert!(text.starts_with(REF_PREFIX));
        assert_eq!(AttachmentRef::parse(&text).unwrap(), r);
        assert!(
            !format!("{r:?}").contains("07"),
            "Debug never shows the key"
        );
        assert!(AttachmentRef::parse("fsatt1:AAAA").is_err());
        assert!(AttachmentRef::parse("hello").is_err());
        assert!(AttachmentRef::parse(&text[..text.len() - 2]).is_err());
    }
}
