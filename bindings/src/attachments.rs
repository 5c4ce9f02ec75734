//! Attachment policy and housekeeping in the bindings (`Node.setAttachmentPolicy`,
//! `Node.setMetered`, `Node.collectAttachments`).

use std::sync::Arc;

use crate::error::FieldSyncError;
use crate::guard::off_thread;
use crate::node::Node;

/// When a node fetches the content of attachments it finds in documents without being
/// asked. Whatever the policy, `Node.fetchAttachment` fetches on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentPolicy {
    /// Only when asked (the default).
    OnDemand,
    /// As soon as a reference arrives, on any network.
    Always,
    /// As soon as a reference arrives while the network is not metered (tell the node with
    /// `Node.setMetered`), else once it stops being metered.
    Unmetered,
}

impl From<AttachmentPolicy> for fieldsync::AttachmentPolicy {
    fn from(p: AttachmentPolicy) -> Self {
        match p {
            AttachmentPolicy::OnDemand => fieldsync::AttachmentPolicy::OnDemand,
            AttachmentPolicy::Always => fieldsync::AttachmentPolicy::Always,
            AttachmentPolicy::Unmetered => fieldsync::AttachmentPolicy::Unmetered,
        }
    }
}

/// What `Node.collectAttachments` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentSweep {
    /// Attachments deleted because no document references them any more.
    pub unreferenced: u64,
    /// Fetched attachments evicted to stay within the storage budget.
    pub evicted: u64,
    /// Encrypted bytes freed.
    pub freed_bytes: u64,
}

#[uniffi::export]
impl Node {
    /// Sets when this node fetches attachments it finds in documents without being asked
    /// (default `OnDemand`). Takes effect at once.
    ///
    /// Errors: `Closed`.
    pub fn set_attachment_policy(&self, policy: AttachmentPolicy) -> Result<(), FieldSyncError> {
        self.live()?.set_attachment_policy(policy.into());
        Ok(())
    }

    /// Tells the node whether the device's network is metered (mobile data) or not (Wi-Fi,
    /// Ethernet): `AttachmentPolicy.Unmetered` fetches only while it is not. Call it from
    /// the app's network monitor; the default is not metered.
    ///
    /// Errors: `Closed`.
    pub fn set_metered(&self, metered: bool) -> Result<(), FieldSyncError> {
        self.live()?.set_metered(metered);
        Ok(())
    }

    /// Deletes the attachments no document references any more (older than the options'
    /// grace period) and evicts fetched ones past the storage budget, oldest first.
    /// Attachments added on this device are never evicted; a deleted or evicted one reads
    /// as `NotFound` until fetched again. It reads every document holding attachments: run
    /// it now and then (at app start, say).
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn collect_attachments(self: Arc<Self>) -> Result<AttachmentSweep, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let s = self.live()?.collect_attachments()?;
            Ok(AttachmentSweep {
                unreferenced: s.unreferenced,
                evicted: s.evicted,
                freed_bytes: s.freed_bytes,
            })
        })
        .await
    }
}
