//! Document membership and key bundles: the facade's methods (the rules are in
//! `crate::replica::membership`).

use crate::auth::Role;
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
    /// Adds the device whose key bundle ([`Node::key_bundle`]) is `bundle` as a writer
    /// (see [`Document::add_member_as`]), publishing control operations. The new member can read the **whole history**
    /// of the document: the data scheme hands over every group secret on welcome, because a
    /// CRDT replica needs all past updates.
    pub fn add_member(&self, bundle: &[u8]) -> Result<AuthorId, DocumentError> {
        self.replica.add_member(self.id, bundle)
    }

    /// Adds the device whose key bundle is `bundle` with `role`: [`Role::Admin`],
    /// [`Role::Writer`] or [`Role::Reader`] (a relay holds no secret: see
    /// [`Document::add_relay`]). Only an admin may add members. The roles sync as signed
    /// control operations; every replica checks them before it stores an operation.
    pub fn add_member_as(&self, bundle: &[u8], role: Role) -> Result<AuthorId, DocumentError> {
        if role == Role::Relay {
            return Err(DocumentError::InvalidArgument(
                "a relay holds no secret: use add_relay with its author id".into(),
            ));
        }
        self.replica.add_member_as(self.id, bundle, role)
    }

    /// Adds `member` as a relay: a device that stores and forwards this document's
    /// ciphertext (e.g. an always-on box) without being able to read or write it.
    pub fn add_relay(&self, member: AuthorId) -> Result<(), DocumentError> {
        self.replica.add_relay(self.id, member)
    }

    /// Changes the role of a member among admin, writer and reader (admins only). Demoting
    /// a writer to reader refuses its later updates on every replica, like a removal.
    pub fn set_role(&self, member: AuthorId, role: Role) -> Result<(), DocumentError> {
        self.replica.set_role(self.id, member, role)
    }

    /// The members and their roles, as this device's replica resolves them (empty for
    /// documents created before roles existed).
    pub fn roles(&self) -> Result<Vec<(AuthorId, Role)>, DocumentError> {
        self.replica.roles(self.id)
    }

    /// This device's role in the document, if it has one.
    pub fn my_role(&self) -> Result<Option<Role>, DocumentError> {
        let me = self.replica.author();
        Ok(self
            .roles()?
            .into_iter()
            .find(|(a, _)| *a == me)
            .map(|(_, r)| r))
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

    /// Removes `member` (admins only): its updates after the ones this device holds are
    /// refused on every replica, and the group secret rotates, so it reads nothing written
    /// after this (post-compromise security). Publishes control operations.
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
