//! The HTTP server of the GraphQL API: `POST /graphql` for queries and mutations,
//! `GET /graphql/ws` for subscriptions (graphql-transport-ws and the older graphql-ws
//! protocol), with an optional bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ParseRequestError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fieldsync::Node;

use super::schema::{self, FieldSyncSchema};
use crate::error::{CliError, Result};

#[derive(Clone)]
struct AppState {
    schema: FieldSyncSchema,
    token: Option<Arc<str>>,
}

/// Refuses a non-loopback address without a token, and an empty token.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<()> {
    if token.is_some_and(|t| t.trim().is_empty()) {
        return Err(CliError(
            "--token (FIELDSYNC_TOKEN) must not be empty".into(),
        ));
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(CliError(format!(
            "refusing to serve GraphQL on {addr}: it is not a loopback address and no access \
             token is set; pass --token TOKEN (or set FIELDSYNC_TOKEN), or bind 127.0.0.1"
        )));
    }
    Ok(())
}

/// Binds `addr` and serves the API over `node` in the background; returns the bound address.
pub async fn start(node: Node, addr: SocketAddr, token: Option<String>) -> Result<SocketAddr> {
    check_bind(addr, token.as_deref())?;
    let state = AppState {
        schema: schema::build(node),
        token: token.map(Arc::from),
    };
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError(format!("cannot serve GraphQL on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("fieldsync: GraphQL server stopped: {e}");
        }
    });
    Ok(bound)
}

/// Compares without stopping at the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer_ok(token: &str, value: &str) -> bool {
    value
        .strip_prefix("Bearer ")
        .is_some_and(|t| same(t.trim(), token))
}

fn header_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| bearer_ok(token, v))
}

/// Accepts `{"Authorization": "Bearer TOKEN"}` (any case of the key) or `{"token": "TOKEN"}`.
fn payload_ok(token: &str, payload: &serde_json::Value) -> bool {
    let Some(obj) = payload.as_object() else {
        return false;
    };
    obj.iter().any(|(k, v)| {
        let Some(v) = v.as_str() else { return false };
        (k.eq_ignore_ascii_case("authorization") && bearer_ok(token, v))
            || (k == "token" && same(v, token))
    })
}

const UNAUTHORIZED: &str = "missing or wrong access token: send `Authorization: Bearer TOKEN`";

/// A request that is not GraphQL at all (bad JSON, wrong shape), answered with a
/// GraphQL-shaped error instead of plain text.
struct BadRequest(ParseRequestError);

impl From<ParseRequestError> for BadRequest {
    fn from(e: ParseRequestError) -> Self {
        BadRequest(e)
    }
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        let status = match self.0 {
            ParseRequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = format!("bad request: {}", self.0);
        let body = serde_json::json!({ "errors": [{ "message": message }] });
        (status, axum::Json(body)).into_response()
    }
}

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: GraphQLRequest<BadRequest>,
) -> Response {
    if !header_ok(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, UNAUTHORIZED).into_response();
    }
    GraphQLResponse::from(state.schema.execute(req.into_inner()).await).into_response()
}

async fn graphql_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let authorized = header_ok(&state, &headers);
    let token = state.token.clone();
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    match token {
                        Some(t) if !authorized && !payload_ok(&t, &payload) => {
                            Err(async_graphql::Error::new(UNAUTHORIZED))
                        }
                        _ => Ok(Data::default()),
                    }
                })
                .serve()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_a_token() {
        let lan: SocketAddr = (std::net::Ipv4Addr::UNSPECIFIED, 8080).into();
        let lo: SocketAddr = (std::net::Ipv4Addr::LOCALHOST, 8080).into();
        assert!(check_bind(lan, None).unwrap_err().0.contains("--token"));
        assert!(check_bind(lan, Some("s3cret")).is_ok());
        assert!(check_bind(lo, None).is_ok());
        assert!(check_bind(lo, Some(" ")).is_err());
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
}
