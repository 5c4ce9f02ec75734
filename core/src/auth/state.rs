//! The roles of one document: `p2panda-auth`'s group CRDT fed with the document's auth
//! operations, and the verdicts every other operation gets from it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use p2panda_auth::group::resolver::StrongRemove;
use p2panda_auth::group::{GroupCrdt, GroupCrdtError, GroupCrdtState, GroupMembershipError};
use p2panda_core::Hash;

use crate::auth::genesis;
use crate::auth::op::{Action, AuthOperation, AuthWire, Principal};
use crate::auth::{AuthError, Role};
use crate::base::ids::{AuthorId, DocumentId};

type Resolver = StrongRemove<Principal, Hash, AuthOperation, ()>;
type Crdt = GroupCrdt<Principal, Hash, AuthOperation, (), Resolver>;
type CrdtState = GroupCrdtState<Principal, Hash, AuthOperation, ()>;

/// What the roles say about an operation.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Its author may do it.
    Allowed,
    /// Cannot be decided yet: the auth operations that would allow it may not have arrived.
    /// Kept in quarantine (bounded, expiring) and checked again when roles change.
    Wait,
    /// Refused for good under the roles this replica holds.
    Refused(AuthError),
}

/// What a group control message (encryption) does, as far as authorization cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupChange {
    /// The group's creation (only the document's creator may send it).
    Create,
    /// Adding `added` (only an admin; `added` must hold a reading role).
    Add(AuthorId),
    /// Removing a member (only an admin).
    Remove,
    /// Rotating the secret (any reader).
    Update,
}

/// The roles of one document.
pub(crate) struct DocAuth {
    document: DocumentId,
    creator: Option<AuthorId>,
    crdt: CrdtState,
    /// Every processed auth operation, in processing order (a causal order), to rebuild
    /// the CRDT after a refused one (`p2panda-auth` consumes its state on error).
    processed: Vec<(AuthOperation, Action)>,
    /// Current roles, resolved.
    roles: BTreeMap<AuthorId, Role>,
    /// Members who lost write access by an effective removal or demotion: the highest seq
    /// of their document log that stays (`None`: none does).
    revoked: HashMap<AuthorId, Option<u32>>,
    /// Every device some auth operation named (current members or not).
    known: HashSet<AuthorId>,
    /// Every device that held the admin role at some point.
    admins_ever: HashSet<AuthorId>,
}

impl DocAuth {
    /// The roles of `document` before any auth operation.
    pub(crate) fn new(document: DocumentId) -> Self {
        DocAuth {
            document,
            creator: None,
            crdt: Crdt::init(),
            processed: Vec::new(),
            roles: BTreeMap::new(),
            revoked: HashMap::new(),
            known: HashSet::new(),
            admins_ever: HashSet::new(),
        }
    }

    /// True once the genesis was processed.
    pub(crate) fn has_genesis(&self) -> bool {
        self.creator.is_some()
    }

    /// Current role of `who`, if any.
    pub(crate) fn role_of(&self, who: &AuthorId) -> Option<Role> {
        self.roles.get(who).copied()
    }

    /// Current roles, by device.
    pub(crate) fn roles(&self) -> Vec<(AuthorId, Role)> {
        self.roles.iter().map(|(a, r)| (*a, *r)).collect()
    }

    /// The heads of the auth graph: the dependencies of the next auth operation.
    pub(crate) fn heads(&self) -> Vec<[u8; 32]> {
        let mut heads: Vec<[u8; 32]> = self
            .crdt
            .heads()
            .into_iter()
            .map(|h| *h.as_bytes())
            .collect();
        heads.sort();
        heads
    }

    /// Processes the auth operation `wire`, carried by operation `id` at `seq` of `author`'s
    /// control log. Unchanged on error.
    pub(crate) fn apply(
        &mut self,
        id: Hash,
        author: &AuthorId,
        seq: u32,
        wire: &AuthWire,
    ) -> Result<(), AuthError> {
        if self.processed.iter().any(|(op, _)| op.id == id) {
            return Ok(());
        }
        match &wire.action {
            Action::Create { nonce } => {
                // One genesis per document: the creator's first control operation.
                if self.creator.is_some()
                    || seq != 0
                    || !genesis::is_genesis_of(self.document, author, nonce)
                {
                    return Err(AuthError::NotGenesis);
                }
            }
            _ => {
                if self.creator.is_none() {
                    return Err(AuthError::MissingDependencies(wire.deps.len()));
                }
                let missing = wire
                    .deps
                    .iter()
                    .filter(|d| !self.crdt.inner.operations.contains_key(&Hash::from(**d)))
                    .count();
                if missing > 0 {
                    return Err(AuthError::MissingDependencies(missing));
                }
                // Only a device that was an admin at some point can have written a valid
                // change: others are refused without touching the CRDT.
                if !self.admins_ever.contains(author) {
                    return Err(AuthError::NotAllowed {
                        author: *author,
                        needed: Role::Admin,
                    });
                }
            }
        }
        let op = AuthOperation::new(id, author, self.document, wire);
        let crdt = std::mem::replace(&mut self.crdt, Crdt::init());
        let result = catch_unwind(AssertUnwindSafe(|| Crdt::process(crdt, &op)));
        match result {
            Ok(Ok(crdt)) => {
                self.crdt = crdt;
                if let Action::Create { .. } = wire.action {
                    self.creator = Some(*author);
                }
                self.processed.push((op, wire.action.clone()));
                self.resolve();
                Ok(())
            }
            Ok(Err(e)) => {
                self.rebuild();
                Err(refusal(author, e))
            }
            Err(_) => {
                self.rebuild();
                Err(AuthError::Refused("the group CRDT failed on it".into()))
            }
        }
    }

    /// Rebuilds the CRDT from the processed operations (after a refused one consumed it).
    fn rebuild(&mut self) {
        let mut crdt = Crdt::init();
        for (op, _) in &self.processed {
            crdt = match catch_unwind(AssertUnwindSafe(|| Crdt::process(crdt, op))) {
                Ok(Ok(next)) => next,
                // Each was accepted before, in this order: this does not happen.
                _ => Crdt::init(),
            };
        }
        self.crdt = crdt;
        self.resolve();
    }

    /// Recomputes the resolved roles, revocations and known devices.
    fn resolve(&mut self) {
        let group = Principal::from(self.document);
        self.roles = self
            .crdt
            .members(group)
            .into_iter()
            .filter_map(|(p, access)| {
                AuthorId::from_slice(&p.0)
                    .ok()
                    .map(|a| (a, Role::of(&access.level)))
            })
            .collect();
        self.revoked.clear();
        self.known.clear();
        self.admins_ever.clear();
        if let Some(creator) = self.creator {
            self.known.insert(creator);
            self.admins_ever.insert(creator);
        }
        for (op, action) in &self.processed {
            let Some(member) = action.member() else {
                continue;
            };
            self.known.insert(member);
            if matches!(
                action,
                Action::Add {
                    role: Role::Admin,
                    ..
                } | Action::Promote {
                    role: Role::Admin,
                    ..
                }
            ) {
                self.admins_ever.insert(member);
            }
            if self.crdt.inner.ignore.contains(&op.id) {
                continue;
            }
            if let Some(keep) = action.revocation() {
                let entry = self.revoked.entry(member).or_insert(keep);
                *entry = (*entry).max(keep);
            }
        }
        for (who, role) in &self.roles {
            if *role == Role::Admin {
                self.admins_ever.insert(*who);
            }
        }
    }

    /// May `author` have written the update at `seq` of its document log?
    pub(crate) fn check_update(&self, author: &AuthorId, seq: u32) -> Verdict {
        let role = self.role_of(author);
        if role.is_some_and(Role::can_write) {
            return Verdict::Allowed;
        }
        if let Some(keep) = self.revoked.get(author) {
            return if keep.is_some_and(|k| seq <= k) {
                Verdict::Allowed
            } else {
                Verdict::Refused(AuthError::Revoked {
                    author: *author,
                    seq,
                })
            };
        }
        if role.is_some() {
            return Verdict::Refused(AuthError::NotAllowed {
                author: *author,
                needed: Role::Writer,
            });
        }
        Verdict::Wait
    }

    /// May `author` publish a snapshot of the document's state? Only a current writer (or
    /// admin): a snapshot stands in for other members' updates, so it is trusted as far as
    /// its author's role, and a removed member's snapshots are refused whenever they arrive.
    pub(crate) fn check_snapshot(&self, author: &AuthorId) -> Verdict {
        let role = self.role_of(author);
        if role.is_some_and(Role::can_write) {
            return Verdict::Allowed;
        }
        if role.is_some() || self.revoked.contains_key(author) {
            return Verdict::Refused(AuthError::NotAllowed {
                author: *author,
                needed: Role::Writer,
            });
        }
        Verdict::Wait
    }

    /// May `author` send this group control message?
    pub(crate) fn check_group_change(&self, author: &AuthorId, change: GroupChange) -> Verdict {
        let Some(creator) = self.creator else {
            return Verdict::Wait;
        };
        let role = self.role_of(author);
        let (allowed, needed) = match change {
            GroupChange::Create => {
                return if *author == creator {
                    Verdict::Allowed
                } else {
                    Verdict::Refused(AuthError::NotGenesis)
                }
            }
            GroupChange::Add(added) => {
                if role == Some(Role::Admin) && !self.role_of(&added).is_some_and(Role::can_read) {
                    // The auth operation adding it may still be on its way.
                    return Verdict::Wait;
                }
                (role == Some(Role::Admin), Role::Admin)
            }
            GroupChange::Remove => (role == Some(Role::Admin), Role::Admin),
            GroupChange::Update => (role.is_some_and(Role::can_read), Role::Reader),
        };
        if allowed {
            Verdict::Allowed
        } else if self.known.contains(author) {
            Verdict::Refused(AuthError::NotAllowed {
                author: *author,
                needed,
            })
        } else {
            Verdict::Wait
        }
    }

    /// May `author` publish an invite record (issue or revoke invites)? Admins only.
    pub(crate) fn check_invite_record(&self, author: &AuthorId) -> Verdict {
        if self.role_of(author) == Some(Role::Admin) {
            Verdict::Allowed
        } else if self.known.contains(author) {
            Verdict::Refused(AuthError::NotAllowed {
                author: *author,
                needed: Role::Admin,
            })
        } else {
            Verdict::Wait
        }
    }

    /// May `author` announce its key bundle here? Members and former members may; others
    /// wait (their announcement is kept in quarantine for an admin to find).
    pub(crate) fn check_announcement(&self, author: &AuthorId) -> Verdict {
        if self.known.contains(author) {
            Verdict::Allowed
        } else {
            Verdict::Wait
        }
    }

    /// Effective revocations: members without write access now, and the highest seq of
    /// their document log that stays.
    pub(crate) fn revocations(&self) -> Vec<(AuthorId, Option<u32>)> {
        self.revoked
            .iter()
            .filter(|(who, _)| !self.role_of(who).is_some_and(Role::can_write))
            .map(|(w, k)| (*w, *k))
            .collect()
    }

    /// True if some auth operation named `who` (a member now or before).
    pub(crate) fn is_known(&self, who: &AuthorId) -> bool {
        self.known.contains(who)
    }

    /// May `peer` sync (pull and push) this document's logs? Any role may.
    pub(crate) fn may_sync(&self, peer: &AuthorId) -> bool {
        self.roles.contains_key(peer)
    }
}

fn refusal(
    author: &AuthorId,
    e: GroupCrdtError<Principal, Hash, AuthOperation, (), Resolver>,
) -> AuthError {
    match e {
        GroupCrdtError::StateChangeError(
            _,
            GroupMembershipError::InsufficientAccess(_)
            | GroupMembershipError::InactiveActor(_)
            | GroupMembershipError::UnrecognisedActor(_),
        ) => AuthError::NotAllowed {
            author: *author,
            needed: Role::Admin,
        },
        other => AuthError::Refused(format!("{other:?}")),
    }
}
