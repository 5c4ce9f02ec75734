//! The HTTP server of the GraphQL API: `POST /graphql` for queries and mutations,
//! `GET /graphql/ws` for subscriptions (graphql-transport-ws and the older graphql-ws
//! protocol), and the web console at `/`.
//!
//! Closed to web pages by default: every request passes the [`Gate`] (Host is an address of
//! this server, so DNS rebinding fails; a page's Origin must be this server or allowed with
//! `--allow-origin`) before anything else; the API needs the access token (always); a POST must
//! be `application/json` (a no-cors `fetch` can only send `text/plain`) and declare a body no
//! larger than [`BODY_LIMIT`], refused before a byte of it is read.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ParseRequestError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::body::Body;
use axum::extract::{Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fieldsync::Node;

use super::access::{self, Gate, Refusal};
use super::console;
use super::schema::{self, FieldSyncSchema};
use crate::error::{CliError, Result};

/// Largest request body accepted (a 5 MB value fits, JSON-escaped).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// How the API is served.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to bind.
    pub addr: SocketAddr,
    /// The access token (always required).
    pub token: String,
    /// Web origins allowed besides the server's own (the console).
    pub allowed_origins: Vec<String>,
    /// Serve schema introspection (off by default).
    pub introspection: bool,
}

#[derive(Clone)]
struct AppState {
    schema: FieldSyncSchema,
    token: Arc<str>,
    gate: Arc<Gate>,
}

/// Binds and serves the API over `node` in the background; returns the bound address.
pub async fn start(node: Node, options: ServeOptions) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| CliError::msg(format!("cannot serve GraphQL on {}: {e}", options.addr)))?;
    let bound = listener.local_addr()?;
    let state = AppState {
        schema: schema::build(node, options.introspection),
        token: Arc::from(options.token),
        gate: Arc::new(Gate::new(bound, options.allowed_origins)),
    };
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("fieldsync: GraphQL server stopped: {e}");
        }
    });
    Ok(bound)
}

fn refuse(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message }] });
    (status, axum::Json(body)).into_response()
}

/// The checks every request passes before its handler (and before its body is read).
async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.gate.check(req.headers()) {
        Err(Refusal::Host(h)) => {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                format!("host {h:?} is not an address of this server"),
            )
        }
        Err(Refusal::Origin(o)) => {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("origin {o:?} is not allowed (fieldsync serve --allow-origin)"),
            )
        }
        Ok(()) => {}
    }
    if req.method() == axum::http::Method::POST {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "requests must be `content-type: application/json`".into(),
            );
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {BODY_LIMIT} bytes"),
            );
        }
        if !access::header_ok(&state.token, req.headers()) {
            return refuse(StatusCode::UNAUTHORIZED, UNAUTHORIZED.into());
        }
        // A body without a declared length (chunked) is cut at the limit while read.
        let req = req.map(|b| Body::new(http_body_util::Limited::new(b, BODY_LIMIT)));
        return next.run(req).await;
    }
    next.run(req).await
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
        refuse(status, format!("bad request: {}", self.0))
    }
}

async fn graphql(State(state): State<AppState>, req: GraphQLRequest<BadRequest>) -> Response {
    GraphQLResponse::from(state.schema.execute(req.into_inner()).await).into_response()
}

async fn graphql_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let authorized = access::header_ok(&state.token, &headers);
    let token = state.token.clone();
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(BODY_LIMIT)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    if authorized || access::payload_ok(&token, &payload) {
                        Ok(Data::default())
                    } else {
                        Err(async_graphql::Error::new(UNAUTHORIZED))
                    }
                })
                .serve()
        })
}
