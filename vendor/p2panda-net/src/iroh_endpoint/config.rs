// SPDX-License-Identifier: MIT OR Apache-2.0

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::iroh_endpoint::actors::{KEEP_ALIVE_INTERVAL, MAX_IDLE_TIMEOUT};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrohConfig {
    /// IPv4 address to bind to.
    pub bind_ip_v4: Ipv4Addr,

    /// Port used for IPv4 socket address.
    ///
    /// Setting the port to `0` will use a random port. If the port specified is already in use, it
    /// will fallback to choosing a random port.
    pub bind_port_v4: u16,

    /// IPv6 address to bind to.
    pub bind_ip_v6: Ipv6Addr,

    /// Port used for IPv6 socket address.
    ///
    /// Setting the port to `0` will use a random port. If the port specified is already in use, it
    /// will fallback to choosing a random port.
    pub bind_port_v6: u16,

    /// Period of inactivity before a keep-alive packet is sent on a connection (FieldSync
    /// addition; upstream's fixed value is the default).
    pub keep_alive_interval: Duration,

    /// Inactivity after which a connection times out; must exceed `keep_alive_interval`
    /// (FieldSync addition; upstream's fixed value is the default).
    pub max_idle_timeout: Duration,
}

impl Default for IrohConfig {
    fn default() -> Self {
        Self {
            bind_ip_v4: Ipv4Addr::UNSPECIFIED,
            bind_port_v4: 0,
            bind_ip_v6: Ipv6Addr::UNSPECIFIED,
            bind_port_v6: 0,
            keep_alive_interval: KEEP_ALIVE_INTERVAL,
            max_idle_timeout: MAX_IDLE_TIMEOUT,
        }
    }
}
