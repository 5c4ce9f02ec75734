//! Entry points for the fuzz targets in `fuzz/` (not part of the supported API).
//!
//! Most decoders the fuzzers exercise are public already ([`crate::operation::decode_operation`],
//! [`crate::Node::ingest`], [`crate::net::ephemeral::open`], [`crate::Invite::parse`],
//! [`crate::crypto::DocumentGroup::decrypt`]). This module only exposes the few that are
//! private to the network layer, with no behaviour of their own.

/// Decodes a catch-up heights frame (the first frame each side of `fieldsync/catchup/1`
/// sends) as the responder and initiator do. Returns the number of logs listed, or `None`
/// when the frame is refused.
pub fn catchup_heights(bytes: &[u8]) -> Option<usize> {
    crate::net::catchup::decode_heights(bytes)
        .ok()
        .map(|(_, heights)| heights.len())
}
