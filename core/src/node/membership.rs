//! Document membership and key bundles: the facade's methods (the rules are in
//! `crate::replica::membership`).

use crate::base::ids::AuthorId;
use crate::document::DocumentError;
use crate::node::{Document, Node, Result};

impl Node {
    /// Rotates this device's pre-key when it nears expiry (30 days before its 90-day
    /// lifetime ends) and then republishes the new key bundle in every document where this
    /// device had announced one. Runs when the node opens and when the network starts; a
    /// long-running app may call it, e.g. daily. Returns how many documents got the new
    /// bundle. Invites always carry the current bundle.
    pub fn refresh_key_bundle(&self) -> Result<usize> {
        Ok(self.replica.refresh_key_bundle()?)
    }

    /// This device's key bundle (public pre-keys, signed): give it to a member of a
    /// document so it can add this device with [`Document::add_member`] (e.g. inside an
    /// invite). Contains no secret.
    pub fn key_bundle(&self) -> Result<Vec<u8>> {
        Ok(self.replica.key_bundle()?)
    }
}

impl Document {
    /// Adds the device whose key bundle ([`Node::key_bundle`]) is `bundle` to this document's
    /// group, publishing a control operation. The new member can read the **whole history**
    /// of the document: the data scheme hands over every group secret on welcome, because a
    /// CRDT replica needs all past updates.
    pub fn add_member(&self, bundle: &[u8]) -> Result<AuthorId, DocumentError> {
        self.replica.add_member(self.id, bundle)
    }

    /// Adds a device that announced its key bundle in this document's control log
    /// ([`Document::announce_key_bundle`]).
    pub fn add_announced_member(&self, member: AuthorId) -> Result<(), DocumentError> {
        self.replica.add_announced_member(self.id, member)
    }

    /// Publishes this device's key bundle in the document's control log, so that a member
    /// can add it with [`Document::add_announced_member`] once the operation syncs.
    pub fn announce_key_bundle(&self) -> Result<(), DocumentError> {
        self.replica.announce_key_bundle(self.id)
    }

    /// Removes `member` from the group and rotates the group secret: it reads nothing
    /// written after this (post-compromise security). Publishes a control operation.
    pub fn remove_member(&self, member: AuthorId) -> Result<(), DocumentError> {
        self.replica.remove_member(self.id, member)
    }

    /// Rotates the group secret for the current members (e.g. periodically, or after a
    /// removal concurrent with another membership change).
    pub fn rotate_key(&self) -> Result<(), DocumentError> {
        self.replica.rotate_key(self.id)
    }

    /// Current members of the document's group, as seen by this device (empty for plain
    /// documents and before this device is welcomed).
    pub fn members(&self) -> Result<Vec<AuthorId>, DocumentError> {
        self.replica.members(self.id)
    }

    /// True if this device currently holds the document's group secret (can read new
    /// updates and write), or the document is plain.
    pub fn can_read(&self) -> Result<bool, DocumentError> {
        self.replica.can_read(self.id)
    }
}
