//! Invites: a compact string (for QR codes) naming a document and how to reach a peer.
//!
//! Format: `fs2:` followed by base64url (no padding) of a CBOR array
//! `[document bytes, node id bytes, [address strings], key bundle bytes or null,
//! token bytes or null]` and a 4-byte checksum (the first bytes of the BLAKE3 hash of the
//! CBOR), so a mistyped invite is refused at parse time ([`InviteError::Checksum`]).
//! Invites of earlier builds (`fs1:`, no checksum; the token optional) are still read.
//!
//! For an encrypted document the invite carries the inviter's key bundle and a random token
//! that the inviter's node recorded: the joining node opens a ratchet session from the
//! bundle and sends a join request with the token ([`crate::direct`]), and the inviter's
//! node adds it to the document's group. Treat an invite like a key: whoever holds it can
//! join until the document's invites are revoked.

use std::net::SocketAddr;

use base64::Engine;
use ciborium::Value;
use thiserror::Error;

use crate::base::ids::{AuthorId, DocumentId};

/// Length of invite tokens.
pub const TOKEN_LEN: usize = 16;

const PREFIX: &str = "fs2:";
const PREFIX_V1: &str = "fs1:";
const CHECKSUM_LEN: usize = 4;
const MAX_INVITE_CHARS: usize = 8 * 1024;
const MAX_ADDRS: usize = 16;
const MAX_RELAY_CHARS: usize = 2048;

/// Why an invite string was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InviteError {
    /// The string does not start with `fs1:`.
    #[error("not a FieldSync invite (expected the prefix {PREFIX})")]
    Prefix,
    /// The string is longer than any invite can be.
    #[error("invite too long")]
    TooLong,
    /// The payload is not valid base64url.
    #[error("invite is not valid base64url")]
    Encoding,
    /// The checksum does not match: the invite was mistyped or cut.
    #[error("invite has a typo (its checksum does not match): copy it again")]
    Checksum,
    /// The payload does not have the expected structure.
    #[error("invite is malformed: {0}")]
    Malformed(String),
}

/// A parsed invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The document to join.
    pub document: DocumentId,
    /// The inviting node.
    pub node: AuthorId,
    /// Where the inviting node can be reached directly.
    pub addrs: Vec<SocketAddr>,
    /// The inviter's key bundle, if it carries one.
    pub key_bundle: Option<Vec<u8>>,
    /// The invite token to present in a join request (encrypted documents).
    pub token: Option<Vec<u8>>,
    /// The relay the inviting node can be reached through from other networks. Its access
    /// token, if the relay asks for one, is not in the invite: the joining app configures
    /// it ([`crate::RelayServer`]).
    pub relay: Option<String>,
}

impl Invite {
    /// Encodes the invite as a string.
    pub fn encode(&self) -> String {
        let mut fields = vec![
            Value::Bytes(self.document.as_bytes().to_vec()),
            Value::Bytes(self.node.as_bytes().to_vec()),
            Value::Array(
                self.addrs
                    .iter()
                    .map(|a| Value::Text(a.to_string()))
                    .collect(),
            ),
            self.key_bundle
                .clone()
                .map(Value::Bytes)
                .unwrap_or(Value::Null),
            self.token.clone().map(Value::Bytes).unwrap_or(Value::Null),
        ];
        // Invites without a relay keep the five fields earlier builds read.
        if let Some(relay) = &self.relay {
            fields.push(Value::Text(relay.clone()));
        }
        let value = Value::Array(fields);
        let mut bytes = Vec::new();
        let _ = ciborium::ser::into_writer(&value, &mut bytes);
        let checksum = blake3::hash(&bytes);
        bytes.extend_from_slice(&checksum.as_bytes()[..CHECKSUM_LEN]);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Parses an invite string.
    pub fn parse(s: &str) -> Result<Self, InviteError> {
        let s = s.trim();
        if s.len() > MAX_INVITE_CHARS {
            return Err(InviteError::TooLong);
        }
        let (payload, checked) = match s.strip_prefix(PREFIX) {
            Some(p) => (p, true),
            None => (s.strip_prefix(PREFIX_V1).ok_or(InviteError::Prefix)?, false),
        };
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InviteError::Encoding)?;
        if checked {
            if bytes.len() < CHECKSUM_LEN {
                return Err(InviteError::Checksum);
            }
            let sum = bytes.split_off(bytes.len() - CHECKSUM_LEN);
            if blake3::hash(&bytes).as_bytes()[..CHECKSUM_LEN] != sum[..] {
                return Err(InviteError::Checksum);
            }
        }
        let mut reader = bytes.as_slice();
        let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
            .map_err(|e| InviteError::Malformed(e.to_string()))?;
        if !reader.is_empty() {
            return Err(InviteError::Malformed("trailing bytes".into()));
        }
        let bad = |m: &str| InviteError::Malformed(m.to_string());
        let Value::Array(items) = value else {
            return Err(bad("expected an array"));
        };
        let mut items = items;
        while items.len() >= 4 && items.len() < 6 {
            items.push(Value::Null);
        }
        let [doc, node, addrs, bundle, token, relay]: [Value; 6] = items
            .try_into()
            .map_err(|_| bad("expected four to six fields"))?;
        let document = match doc {
            Value::Bytes(b) => DocumentId::from_slice(&b).map_err(|_| bad("document id"))?,
            _ => return Err(bad("document id")),
        };
        let node = match node {
            Value::Bytes(b) => AuthorId::from_slice(&b).map_err(|_| bad("node id"))?,
            _ => return Err(bad("node id")),
        };
        let Value::Array(addr_values) = addrs else {
            return Err(bad("addresses"));
        };
        if addr_values.len() > MAX_ADDRS {
            return Err(bad("too many addresses"));
        }
        let addrs = addr_values
            .into_iter()
            .map(|v| match v {
                Value::Text(t) => t.parse::<SocketAddr>().map_err(|_| bad("address")),
                _ => Err(bad("address")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let key_bundle = match bundle {
            Value::Bytes(b) => Some(b),
            Value::Null => None,
            _ => return Err(bad("key bundle")),
        };
        let token = match token {
            Value::Bytes(b) if b.len() == TOKEN_LEN => Some(b),
            Value::Null => None,
            _ => return Err(bad("token")),
        };
        let relay = match relay {
            Value::Text(t) if t.len() <= MAX_RELAY_CHARS => {
                let url = t.parse::<iroh::RelayUrl>().map_err(|_| bad("relay url"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(bad("relay url"));
                }
                Some(t)
            }
            Value::Null => None,
            _ => return Err(bad("relay url")),
        };
        Ok(Invite {
            document,
            node,
            addrs,
            key_bundle,
            token,
            relay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2panda_core::SigningKey;

    #[test]
    fn round_trip_and_rejections() {
        let invite = Invite {
            document: DocumentId::random(),
            node: AuthorId::from(SigningKey::generate().verifying_key()),
            addrs: vec!["127.0.0.1:4000".parse().unwrap()],
            key_bundle: Some(vec![1, 2, 3]),
            token: Some(vec![9; TOKEN_LEN]),
            relay: None,
        };
        // With the inviter's relay: a sixth field, read back.
        let relayed = Invite {
            relay: Some("https://relay.example.org./".into()),
            ..invite.clone()
        };
        assert_eq!(Invite::parse(&relayed.encode()).unwrap(), relayed);
        let bad_relay = Invite {
            relay: Some("ftp://relay.example.org".into()),
            ..invite.clone()
        };
        assert!(matches!(
            Invite::parse(&bad_relay.encode()),
            Err(InviteError::Malformed(_))
        ));
        let s = invite.encode();
        assert!(s.len() < 300, "invite should fit a QR code: {}", s.len());
        assert_eq!(Invite::parse(&s).unwrap(), invite);
        assert!(s.starts_with("fs2:"));
        assert_eq!(Invite::parse("hello"), Err(InviteError::Prefix));
        assert_eq!(Invite::parse("fs1:!!!"), Err(InviteError::Encoding));
        assert!(matches!(
            Invite::parse("fs1:AAAA"),
            Err(InviteError::Malformed(_))
        ));
        // One mistyped character anywhere in the payload is caught by the checksum.
        let chars: Vec<char> = s.chars().collect();
        for i in [4, s.len() / 2, s.len() - 1] {
            let mut typo = chars.clone();
            typo[i] = if typo[i] == 'A' { 'B' } else { 'A' };
            let typo: String = typo.into_iter().collect();
            assert!(
                matches!(
                    Invite::parse(&typo),
                    Err(InviteError::Checksum | InviteError::Encoding)
                ),
                "typo at {i} not caught"
            );
        }
        // An invite of an earlier build (fs1, no checksum) is still read.
        let v1 = {
            let payload = s.strip_prefix("fs2:").unwrap();
            let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            bytes.truncate(bytes.len() - CHECKSUM_LEN);
            format!(
                "fs1:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            )
        };
        assert_eq!(Invite::parse(&v1).unwrap(), invite);
        assert_eq!(
            Invite::parse(&"x".repeat(10_000)),
            Err(InviteError::TooLong)
        );
        assert!(matches!(
            Invite::parse(&s[..s.len() - 4]),
            Err(InviteError::Checksum | InviteError::Encoding)
        ));
    }
}
