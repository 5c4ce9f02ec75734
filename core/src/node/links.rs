//! Sync over a link the app supplies ([`crate::Link`]) on the [`Node`] API.

use std::sync::Arc;

use crate::net::link::{self, Link, LinkReport, LinkRole};
use crate::net::NetCommand;
use crate::node::{Node, Result};

impl Node {
    /// Syncs every document this device and the peer may sync over `link`: the peer is
    /// authenticated by its node key and everything on the link is encrypted (see
    /// [`crate::Link`]), so the link itself may be open to anyone. One side calls this as
    /// [`LinkRole::Initiator`], the other as [`LinkRole::Responder`]. Returns when both
    /// sides sent what the other lacked and everything received was validated and
    /// stored; a link that breaks ends it with [`crate::LinkError`] and keeps what
    /// arrived (the next sync sends only the rest). Needs no QUIC network.
    pub async fn sync_over_link(&self, link: Arc<dyn Link>, role: LinkRole) -> Result<LinkReport> {
        self.replica.flush()?;
        let known = self.replica.documents()?;
        let report = link::sync(&self.replica, &self.net, link, role).await?;
        for doc in self.replica.documents()? {
            if !known.contains(&doc) {
                self.net.send(NetCommand::Subscribe(doc));
            }
        }
        Ok(report)
    }
}
