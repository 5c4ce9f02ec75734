//! Who may use the GraphQL API: the access token (always required), and the checks that keep
//! web pages out (Origin allow-list, Host check against DNS rebinding, JSON-only POSTs).

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use axum::http::{header, HeaderMap};

use crate::error::{CliError, Result};

/// The token file in the data directory (0600), written on the first `serve`.
pub const TOKEN_FILE: &str = "graphql.token";

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// `FIELDSYNC_TOKEN`.
    Env,
    /// `--token-file PATH`, or the data directory's token file written earlier.
    File(PathBuf),
    /// Just generated and saved to this file: printed once.
    Generated(PathBuf),
}

/// The access token: `env` (the value of `FIELDSYNC_TOKEN`), else `token_file`, else the
/// data directory's `graphql.token`, generated (32 random bytes, hex) and saved with mode 0600
/// on first use. Never from the command line (visible to every user in `ps`).
pub fn resolve_token(
    data: &Path,
    env: Option<&str>,
    token_file: Option<&Path>,
) -> Result<(String, TokenOrigin)> {
    resolve_secret(&data.join(TOKEN_FILE), ("FIELDSYNC_TOKEN", env), token_file)
}

/// A secret the same way as [`resolve_token`]: `env` (its variable's name, value), else
/// `token_file`, else `default_file`, generated on first use (also `fieldsync relay`'s token).
pub fn resolve_secret(
    default_file: &Path,
    env: (&str, Option<&str>),
    token_file: Option<&Path>,
) -> Result<(String, TokenOrigin)> {
    if let (name, Some(t)) = env {
        return Ok((check_token(t.trim(), name)?, TokenOrigin::Env));
    }
    if let Some(path) = token_file {
        let t = read_token(path)?;
        return Ok((t, TokenOrigin::File(path.to_path_buf())));
    }
    let path = default_file.to_path_buf();
    if path.exists() {
        return Ok((read_token(&path)?, TokenOrigin::File(path)));
    }
    let token = random_token()?;
    write_private(&path, &token)?;
    Ok((token, TokenOrigin::Generated(path)))
}

fn check_token(t: &str, from: &str) -> Result<String> {
    if t.len() < 16 {
        return Err(CliError::msg(format!(
            "the access token from {from} is too short (at least 16 characters)"
        )));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::msg(format!(
            "the access token from {from} must be printable ASCII without spaces"
        )));
    }
    Ok(t.to_string())
}

/// Reads a token file (at most 4 KiB, trimmed, checked).
pub fn read_token(path: &Path) -> Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut s))
        .map_err(|e| {
            CliError::msg(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
    check_token(s.trim(), &path.display().to_string())
}

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| CliError::msg(format!("cannot read random bytes for a token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `path` with mode 0600 from the start (never readable by others, even briefly).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .map_err(|e| CliError::msg(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

/// Compares without stopping at the first differing byte.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `Bearer TOKEN`.
pub fn bearer_ok(token: &str, value: &str) -> bool {
    value
        .strip_prefix("Bearer ")
        .is_some_and(|t| same(t.trim(), token))
}

/// The `Authorization` header carries the token.
pub fn header_ok(token: &str, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| bearer_ok(token, v))
}

/// A WebSocket `connection_init` payload carries the token: `{"Authorization": "Bearer
/// TOKEN"}` (any case of the key) or `{"token": "TOKEN"}` (browsers cannot set headers on a
/// WebSocket).
pub fn payload_ok(token: &str, payload: &serde_json::Value) -> bool {
    let Some(obj) = payload.as_object() else {
        return false;
    };
    obj.iter().any(|(k, v)| {
        let Some(v) = v.as_str() else { return false };
        (k.eq_ignore_ascii_case("authorization") && bearer_ok(token, v))
            || (k == "token" && same(v, token))
    })
}

/// Why a request was refused before its body was read.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header names no address of this server (DNS rebinding, a proxy).
    Host(String),
    /// The Origin header is a web page that is not allowed.
    Origin(String),
}

/// The request-independent part of the checks: the bound address and the allowed origins.
#[derive(Clone, Debug)]
pub struct Gate {
    bound: SocketAddr,
    origins: Vec<String>,
}

impl Gate {
    /// Checks for a server bound to `bound`; `origins` are the extra web origins allowed
    /// (`--allow-origin`, e.g. `https://console.example.org`).
    pub fn new(bound: SocketAddr, origins: Vec<String>) -> Self {
        let origins = origins
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Gate { bound, origins }
    }

    /// The Host header must be an IP address of this server (the bound one, or any when bound
    /// to all interfaces) or `localhost` on loopback, with the bound port: a DNS name that
    /// resolves here (DNS rebinding) is refused.
    fn host_ok(&self, host: &str) -> bool {
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.is_empty() && !p.contains(']') => (n, p),
            _ => return false,
        };
        if port.parse::<u16>().ok() != Some(self.bound.port()) {
            return false;
        }
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.eq_ignore_ascii_case("localhost") {
            return self.bound.ip().is_loopback() || self.bound.ip().is_unspecified();
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => self.bound.ip().is_unspecified() || ip == self.bound.ip(),
            Err(_) => false,
        }
    }

    /// The checks every request passes before anything else: Host, then Origin (absent for
    /// native clients such as curl; a page's requests carry it). The console served at `/`
    /// is same-origin.
    pub fn check(&self, headers: &HeaderMap) -> std::result::Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !self.host_ok(host) {
            return Err(Refusal::Host(host.chars().take(100).collect()));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            let same_origin = origin == format!("http://{}", host.to_ascii_lowercase());
            if !same_origin && !self.origins.contains(&origin) {
                return Err(Refusal::Origin(origin.chars().take(100).collect()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn host_and_origin() {
        let lo = Gate::new("127.0.0.1:8080".parse().unwrap(), vec![]);
        assert!(lo.check(&headers("127.0.0.1:8080", None)).is_ok());
        assert!(lo.check(&headers("localhost:8080", None)).is_ok());
        assert!(lo
            .check(&headers("127.0.0.1:8080", Some("http://127.0.0.1:8080")))
            .is_ok());
        assert!(matches!(
            lo.check(&headers("evil.example:8080", None)),
            Err(Refusal::Host(_))
        ));
        assert!(matches!(
            lo.check(&headers("127.0.0.1:9", None)),
            Err(Refusal::Host(_))
        ));
        assert!(matches!(
            lo.check(&headers("10.0.0.1:8080", None)),
            Err(Refusal::Host(_))
        ));
        assert!(matches!(
            lo.check(&headers("127.0.0.1:8080", Some("http://evil.example"))),
            Err(Refusal::Origin(_))
        ));
        assert!(matches!(
            lo.check(&headers("127.0.0.1:8080", Some("null"))),
            Err(Refusal::Origin(_))
        ));
        let allowed = Gate::new(
            "0.0.0.0:8080".parse().unwrap(),
            vec!["https://Console.example/".into()],
        );
        assert!(allowed
            .check(&headers(
                "192.168.1.7:8080",
                Some("https://console.example")
            ))
            .is_ok());
        assert!(allowed.check(&headers("[::1]:8080", None)).is_ok());
    }

    #[test]
    fn tokens_from_header_or_init_payload() {
        assert!(bearer_ok("abc", "Bearer abc"));
        assert!(!bearer_ok("abc", "Bearer abd"));
        assert!(!bearer_ok("abc", "abc"));
        assert!(payload_ok(
            "abc",
            &serde_json::json!({"Authorization": "Bearer abc"})
        ));
        assert!(payload_ok("abc", &serde_json::json!({"token": "abc"})));
        assert!(!payload_ok("abc", &serde_json::json!({"token": "nope"})));
        assert!(!payload_ok("abc", &serde_json::Value::Null));
    }

    #[test]
    fn a_generated_token_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, o1) = resolve_token(dir.path(), None, None).unwrap();
        assert_eq!(t1.len(), 64);
        assert_eq!(o1, TokenOrigin::Generated(dir.path().join(TOKEN_FILE)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (t2, o2) = resolve_token(dir.path(), None, None).unwrap();
        assert_eq!(t1, t2);
        assert!(matches!(o2, TokenOrigin::File(_)));
        std::fs::write(dir.path().join("short"), "abc").unwrap();
        assert!(resolve_token(dir.path(), None, Some(&dir.path().join("short"))).is_err());
        assert_eq!(
            resolve_token(dir.path(), Some(" env-token-0123456789 "), None).unwrap(),
            ("env-token-0123456789".to_string(), TokenOrigin::Env)
        );
    }
}
