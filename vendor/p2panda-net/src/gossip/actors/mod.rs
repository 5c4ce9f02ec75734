// SPDX-License-Identifier: MIT OR Apache-2.0

mod healer;
mod joiner;
mod listener;
mod manager;
mod receiver;
mod sender;
mod session;

pub use manager::{GossipManager, ToGossipManager};
