// SPDX-License-Identifier: MIT OR Apache-2.0

//! Manage node information, bootstraps and their associated transport addresses and topics.
mod actor;
mod api;
mod builder;
pub mod report;
#[cfg(feature = "supervisor")]
mod supervisor;
#[cfg(test)]
mod tests;
pub mod watchers;

pub use api::{AddressBook, AddressBookError};
pub use builder::Builder;
