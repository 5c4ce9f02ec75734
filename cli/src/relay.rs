//! `fieldsync relay`: an iroh relay server (the published `iroh-relay` crate's server) for an
//! organisation's devices, so that devices on different networks or behind NATs reach each
//! other. Everything a relay forwards is QUIC between the devices, end-to-end encrypted, and
//! FieldSync's own encryption inside; the relay learns who talks to whom and how much.
//!
//! Access: a token is required unless `--open` says otherwise. Devices present it as a bearer
//! token when they connect (`fieldsync node --relay URL` with `FIELDSYNC_RELAY_TOKEN` or
//! `--relay-token-file`; `RelayServer::token` in the SDK); a device without it is refused
//! before it is registered, and the refusal is printed.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use iroh_relay::server::{
    Access, AccessControl, CertConfig, ClientRateLimit, ClientRequest, RelayConfig, Server,
    ServerConfig, TlsConfig,
};

use crate::error::{CliError, Result};
use crate::graphql::access::{resolve_secret, same, TokenOrigin};

/// The relay token file in the data directory (0600), written on the first `relay` run.
pub const RELAY_TOKEN_FILE: &str = "relay.token";

/// Options of `fieldsync relay`.
#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// Address of the relay's plain HTTP listener, e.g. 0.0.0.0:80 (port 0 picks a free
    /// one). Without --https the relay itself is served here: for tests and closed networks
    /// only, since the devices' traffic inside is encrypted but the token is not.
    #[arg(long, value_name = "ADDR")]
    pub http: SocketAddr,

    /// Serve the relay over HTTPS on ADDR (e.g. 0.0.0.0:443) with --tls-cert and
    /// --tls-key; the HTTP listener then only answers captive-portal probes.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    pub https: Option<SocketAddr>,

    /// PEM certificate chain for --https (e.g. Let's Encrypt's fullchain.pem). Read at
    /// start; restart the relay after renewing it.
    #[arg(long, value_name = "FILE", requires = "https")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --https (e.g. Let's Encrypt's privkey.pem).
    #[arg(long, value_name = "FILE", requires = "https")]
    pub tls_key: Option<PathBuf>,

    /// Read the access token from FILE. Default: FIELDSYNC_RELAY_TOKEN, else DATA/relay.token,
    /// generated and printed once on the first run. Never on the command line (`ps`).
    #[arg(long, value_name = "FILE", conflicts_with = "open")]
    pub token_file: Option<PathBuf>,

    /// Let any device use the relay, without a token.
    #[arg(long)]
    pub open: bool,

    /// Most bytes per second the relay reads from one device (bursts up to twice that), so
    /// that one device cannot take the relay's bandwidth from the others; 0: no limit.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_CLIENT_RATE)]
    pub client_rate: u32,
}

/// Default of `--client-rate`: 8 MiB/s per device, well above what a field team's sync and
/// attachments need through a relay, far below what one device could otherwise take.
pub const DEFAULT_CLIENT_RATE: u32 = 8 * 1024 * 1024;

/// The relay's per-device read limit for `--client-rate` (`None`: unlimited).
fn client_limit(bytes_per_second: u32) -> Option<ClientRateLimit> {
    let rate = NonZeroU32::new(bytes_per_second)?;
    let mut limit = ClientRateLimit::new(rate);
    limit.max_burst_bytes = rate.get().checked_mul(2).and_then(NonZeroU32::new);
    Some(limit)
}

/// Admits devices that present the token (all of them with `--open`).
#[derive(Debug)]
struct TokenAccess {
    token: Option<String>,
    printer: Printer,
}

impl AccessControl for TokenAccess {
    async fn on_connect(&self, request: &ClientRequest) -> Access {
        let Some(token) = &self.token else {
            return Access::Allow;
        };
        match request.auth_token() {
            Some(given) if same(&given, token) => Access::Allow,
            given => {
                let why = if given.is_none() {
                    "no token"
                } else {
                    "wrong token"
                };
                self.printer
                    .refused(&request.endpoint_id().to_string(), why);
                Access::Deny {
                    reason: Some("this relay needs its access token".into()),
                }
            }
        }
    }
}

/// What the relay prints: one line per event, JSON with `--json`.
#[derive(Debug, Clone, Copy)]
struct Printer {
    json: bool,
}

impl Printer {
    fn listening(&self, url: &str, token_required: bool, client_rate: u32) {
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "relay_listening", "url": url,
                    "token_required": token_required, "client_rate": client_rate})
            );
        } else {
            let rate = if client_rate == 0 {
                "no per-device rate limit".to_string()
            } else {
                format!("each device up to {client_rate} bytes/s")
            };
            let access = if token_required {
                "devices need the token (FIELDSYNC_RELAY_TOKEN or --relay-token-file)"
            } else {
                "open to any device"
            };
            println!("relay: listening at {url}; {access}; {rate}");
        }
    }

    fn refused(&self, node: &str, why: &str) {
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "relay_refused", "node": node, "reason": why})
            );
        } else {
            println!("relay: refused {node}: {why}");
        }
    }
}

/// Runs the relay until Ctrl-C or SIGTERM.
pub fn run(data: &Path, json: bool, args: RelayArgs) -> Result<()> {
    let token = if args.open {
        None
    } else {
        crate::dispatch::private_dir(data)?;
        let env = std::env::var("FIELDSYNC_RELAY_TOKEN").ok();
        let (token, origin) = resolve_secret(
            &data.join(RELAY_TOKEN_FILE),
            ("FIELDSYNC_RELAY_TOKEN", env.as_deref()),
            args.token_file.as_deref(),
        )?;
        if let TokenOrigin::Generated(path) = &origin {
            eprintln!(
                "relay: generated the access token (saved to {}): {token}",
                path.display()
            );
        }
        Some(token)
    };
    let tls = match (&args.https, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => Some(TlsConfig::new(
            *addr,
            CertConfig::Manual {
                server_config: tls_config(cert, key)?,
            },
        )),
        _ => None,
    };
    let printer = Printer { json };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut relay = RelayConfig::new(args.http);
        relay.tls = tls;
        relay.limits.client_rx = client_limit(args.client_rate);
        relay.access = Arc::new(TokenAccess {
            token: token.clone(),
            printer,
        });
        let mut config = ServerConfig::default();
        config.relay = Some(relay);
        let server = Server::spawn(config)
            .await
            .map_err(|e| CliError::msg(format!("cannot start the relay: {e}")))?;
        let url = match (server.https_addr(), server.http_addr()) {
            (Some(addr), _) => format!("https://{addr}"),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => return Err(CliError::msg("the relay has no listener")),
        };
        printer.listening(&url, token.is_some(), args.client_rate);
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        server
            .shutdown()
            .await
            .map_err(|e| CliError::msg(format!("relay shutdown: {e}")))?;
        Ok(())
    })
}

/// A rustls server configuration from PEM files.
fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        CliError::msg(format!("cannot read the {what} {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("certificate", cert, &"no certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key_der))
        .map_err(|e| CliError::msg(format!("TLS configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_rate_maps_to_a_limit_with_a_burst_of_two_seconds() {
        assert!(client_limit(0).is_none());
        let l = client_limit(DEFAULT_CLIENT_RATE).expect("limit");
        assert_eq!(l.bytes_per_second.get(), 8 * 1024 * 1024);
        assert_eq!(
            l.max_burst_bytes.map(NonZeroU32::get),
            Some(16 * 1024 * 1024)
        );
        // Doubling would overflow: the burst is left to the server's default.
        let l = client_limit(u32::MAX).expect("limit");
        assert_eq!(l.max_burst_bytes, None);
    }
}
