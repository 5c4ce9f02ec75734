//! A UDP proxy that emulates a bad network between one client and one server (QUIC runs over
//! UDP): random loss, added delay, and a blackhole (partition) that can heal. Used where
//! `tc netem` is not available; see RELIABILITY.md.
//!
//! The client side can live in another network namespace ([`UdpProxy::start_in_netns`]):
//! then the proxy is the only path between client and server. Two nodes on one loopback
//! would find each other's direct addresses through discovery and route around the proxy.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Faults applied to every datagram, in both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Percentage of datagrams dropped (0-100).
    pub loss_pct: u8,
    /// Delay added to every forwarded datagram.
    pub delay: Duration,
    /// Drop everything (a partition).
    pub blackhole: bool,
}

/// Datagram counters of a proxy.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams forwarded.
    pub forwarded: AtomicU64,
    /// Datagrams dropped (loss or blackhole).
    pub dropped: AtomicU64,
}

/// A running proxy. Dropping it stops forwarding.
pub struct UdpProxy {
    /// Where the client must send (it stands for the server).
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    /// Datagram counters.
    pub counters: Arc<Counters>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn pass(faults: &Mutex<Faults>, counters: &Counters) -> Option<Duration> {
    let f = *faults.lock().unwrap_or_else(|p| p.into_inner());
    if f.blackhole || rand::thread_rng().gen_range(0..100) < f.loss_pct {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        None
    } else {
        counters.forwarded.fetch_add(1, Ordering::Relaxed);
        Some(f.delay)
    }
}

fn send_later(socket: Arc<UdpSocket>, bytes: Vec<u8>, to: SocketAddr, delay: Duration) {
    if delay.is_zero() {
        let _ = socket.try_send_to(&bytes, to);
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = socket.send_to(&bytes, to).await;
    });
}

impl UdpProxy {
    /// Starts a proxy for `server` (in this process' namespace) whose client side listens on
    /// a free port of 127.0.0.1 inside the network namespace `netns` (`ip netns` name).
    pub async fn start_in_netns(server: SocketAddr, netns: &str) -> std::io::Result<Self> {
        let path = format!("/var/run/netns/{netns}");
        // setns affects only the calling thread: bind on a short-lived thread; the socket
        // stays in the namespace it was created in.
        let front = std::thread::spawn(move || -> std::io::Result<std::net::UdpSocket> {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(path)?;
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let socket = std::net::UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .join()
        .map_err(|_| std::io::Error::other("netns thread panicked"))??;
        Self::start_with(server, UdpSocket::from_std(front)?).await
    }

    async fn start_with(server: SocketAddr, front: UdpSocket) -> std::io::Result<Self> {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let front = Arc::new(front);
        let back = Arc::new(UdpSocket::bind(local).await?);
        let addr = front.local_addr()?;
        let faults = Arc::new(Mutex::new(Faults::default()));
        let counters = Arc::new(Counters::default());
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let upstream = {
            let (front, back, faults, counters, client) = (
                front.clone(),
                back.clone(),
                faults.clone(),
                counters.clone(),
                client.clone(),
            );
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    *client.lock().unwrap_or_else(|p| p.into_inner()) = Some(from);
                    if let Some(delay) = pass(&faults, &counters) {
                        send_later(back.clone(), buf[..n].to_vec(), server, delay);
                    }
                }
            })
        };
        let downstream = {
            let (front, back, faults, counters) = (
                front.clone(),
                back.clone(),
                faults.clone(),
                counters.clone(),
            );
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, _)) = back.recv_from(&mut buf).await {
                    let to = *client.lock().unwrap_or_else(|p| p.into_inner());
                    if let (Some(to), Some(delay)) = (to, pass(&faults, &counters)) {
                        send_later(front.clone(), buf[..n].to_vec(), to, delay);
                    }
                }
            })
        };
        Ok(UdpProxy {
            addr,
            faults,
            counters,
            tasks: vec![upstream, downstream],
        })
    }

    /// Changes the faults applied from now on.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// (forwarded, dropped) datagrams so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counters.forwarded.load(Ordering::Relaxed),
            self.counters.dropped.load(Ordering::Relaxed),
        )
    }
}
