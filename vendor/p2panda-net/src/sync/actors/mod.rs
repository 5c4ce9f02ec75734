// SPDX-License-Identifier: MIT OR Apache-2.0

mod manager;
mod poller;
mod session;
mod topic_manager;

pub use manager::{SyncManager, ToSyncManager};
pub use topic_manager::{ToTopicManager, TopicManager};
