//! The GraphQL API with real clients: reqwest for queries and mutations, graphql-ws-client
//! (graphql-transport-ws over tokio-tungstenite) for the `documentUpdated` subscription.
//! Node A runs `fieldsync serve` with an access token and `--admit`; node B runs
//! `fieldsync node --graphql`. A subscription on A receives an edit made by a mutation on B.

mod common;

use std::time::{Duration, Instant};

use common::{init, json, NodeProc, TIMEOUT};
use futures_util::StreamExt;
use graphql_ws_client::graphql::GraphqlOperation;
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A GraphQL operation with its raw JSON response.
#[derive(Serialize)]
struct Op {
    query: String,
    variables: Value,
}

impl GraphqlOperation for Op {
    type Response = Value;
    type Error = serde_json::Error;

    fn decode(&self, data: Value) -> Result<Value, serde_json::Error> {
        Ok(data)
    }
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Api {
    fn new(addr: &str, token: Option<String>) -> Api {
        Api {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/graphql"),
            token,
        }
    }

    /// Posts a query; returns the HTTP status and the JSON body.
    async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Posts a query that must succeed; returns `data`.
    async fn ok(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_on_one_node_sees_a_mutation_on_another() {
    // reqwest is built with iroh's `rustls-no-provider` feature: pick the provider (plain HTTP
    // on loopback never uses it, but the client requires one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (da.path().to_path_buf(), db.path().to_path_buf());
    init(&a);
    let b_id = init(&b);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let node_a = NodeProc::start("A", &a, "serve", &["--graphql", "127.0.0.1:0", "--admit"]);
    let node_b = NodeProc::start("B", &b, "node", &["--graphql", "127.0.0.1:0"]);
    let token_a = node_a.graphql_token();
    let api_a = Api::new(&node_a.graphql(), Some(token_a.clone()));
    let api_b = Api::new(&node_b.graphql(), Some(node_b.graphql_token()));

    // The token is required on A.
    let (status, _) = Api::new(&node_a.graphql(), None)
        .post("{ documents { id } }", Value::Null)
        .await;
    assert_eq!(status, 401, "A must refuse a request without its token");

    // Invite on A, join on B, both through mutations; A admits B by itself (--admit).
    let data = api_a
        .ok(
            "mutation($id: String!) { editText(id: $id, container: \"notes\", position: 0, insert: \"from A\") { content } invite(id: $id) }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(data["editText"]["content"]["notes"], "from A", "{data}");
    let invite = data["invite"].as_str().unwrap().to_string();
    let data = api_b
        .ok(
            "mutation($i: String!) { join(invite: $i) { id readable } }",
            json!({"i": invite}),
        )
        .await;
    assert_eq!(data["join"]["id"], doc.as_str());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let d = api_b
            .ok(
                "query($id: String!) { document(id: $id) { readable content } }",
                json!({"id": doc}),
            )
            .await;
        if d["document"]["readable"] == true && d["document"]["content"]["notes"] == "from A" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never became a reader of the document: {d}\nA:\n{}\nB:\n{}",
            node_a.log_text(),
            node_b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let members = api_a
        .ok(
            "query($id: String!) { members(id: $id) }",
            json!({"id": doc}),
        )
        .await;
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == b_id.as_str()),
        "{members}"
    );

    // Attachments: A adds a photo and puts its reference in the document; B reads it,
    // which fetches it from A.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 17 % 251) as u8).collect();
        let added = api_a
            .ok(
                "mutation($id: String!, $b: String!) { addAttachment(id: $id, base64: $b, mediaType: \"image/jpeg\") }",
                json!({"id": doc, "b": b64.encode(&photo)}),
            )
            .await;
        let reference = added["addAttachment"].as_str().unwrap().to_string();
        api_a
            .ok(
                "mutation($id: String!, $r: JSON!) { editMap(id: $id, container: \"photos\", key: \"site\", value: $r) { id } }",
                json!({"id": doc, "r": reference}),
            )
            .await;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let d = api_b
                .ok(
                    "query($id: String!) { document(id: $id) { content } }",
                    json!({"id": doc}),
                )
                .await;
            if d["document"]["content"]["photos"]["site"] == reference.as_str() {
                break;
            }
            assert!(Instant::now() < deadline, "B never got the reference: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let read = api_b
            .ok(
                "query($id: String!, $r: String!) { attachment(id: $id, reference: $r) }",
                json!({"id": doc, "r": reference}),
            )
            .await;
        let back = b64.decode(read["attachment"].as_str().unwrap()).unwrap();
        assert_eq!(back, photo, "B fetched the photo from A");
    }

    // Bundles: B asks A for what it lacks and imports it; a changed byte is refused.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let req = api_b
            .ok(
                "query($id: String!) { bundleRequest(id: $id) }",
                json!({"id": doc}),
            )
            .await;
        let bundle = api_a
            .ok(
                "query($id: String!, $r: String) { bundle(id: $id, request: $r) }",
                json!({"id": doc, "r": req["bundleRequest"]}),
            )
            .await;
        let bytes = b64.decode(bundle["bundle"].as_str().unwrap()).unwrap();
        let imported = api_b
            .ok(
                "mutation($b: String!) { importBundle(base64: $b) }",
                json!({"b": b64.encode(&bytes)}),
            )
            .await;
        assert_eq!(imported["importBundle"], doc.as_str());
        let mut tampered = bytes.clone();
        tampered[bytes.len() / 2] ^= 1;
        let (_, refused) = api_b
            .post(
                "mutation($b: String!) { importBundle(base64: $b) }",
                json!({"b": b64.encode(&tampered)}),
            )
            .await;
        assert!(
            refused.to_string().contains("signature does not verify"),
            "{refused}"
        );
    }

    // Roles: A created the document (admin); B joined by invite (writer).
    let roles = api_a
        .ok(
            "query($id: String!) { roles(id: $id) { member role } document(id: $id) { myRole } }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(roles["document"]["myRole"], "ADMIN", "{roles}");
    assert!(
        roles["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["member"] == b_id.as_str() && r["role"] == "WRITER"),
        "{roles}"
    );
    // B is no admin: changing roles is refused with a clear error.
    let (status, body) = api_b
        .post(
            "mutation($id: String!, $d: String!) { setRole(id: $id, device: $d, role: ADMIN) { member } }",
            json!({"id": doc, "d": b_id}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not allowed")),
        "{body}"
    );

    // Subscribe on A (token in the connection_init payload), then edit through B.
    let mut request = format!("ws://{}/graphql/ws", node_a.graphql())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (conn, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connect");
    let mut updates = graphql_ws_client::Client::build(conn)
        .payload(json!({ "token": token_a }))
        .unwrap()
        .subscribe(Op {
            query: "subscription($id: String!) { documentUpdated(id: $id) { id origin content version } }".into(),
            variables: json!({"id": doc}),
        })
        .await
        .expect("subscribe on A");
    let edited = api_b
        .ok(
            "mutation($id: String!) { editText(id: $id, container: \"notes\", position: 0, insert: \"B says hi; \") { content } }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(
        edited["editText"]["content"]["notes"], "B says hi; from A",
        "{edited}"
    );
    let got = tokio::time::timeout(TIMEOUT, async {
        while let Some(item) = updates.next().await {
            let item = item.expect("subscription item");
            let u = &item["data"]["documentUpdated"];
            if u["content"]["notes"] == "B says hi; from A" {
                return Some(u.clone());
            }
        }
        None
    })
    .await;
    let update = match got {
        Ok(Some(u)) => u,
        other => panic!(
            "A's subscription did not deliver B's edit ({other:?})\nA:\n{}\nB:\n{}",
            node_a.log_text(),
            node_b.log_text()
        ),
    };
    assert_eq!(update["id"], doc.as_str());
    assert_eq!(update["origin"], b_id.as_str(), "{update}");
    assert!(update["version"][&b_id].is_u64(), "{update}");

    // Bad queries get GraphQL errors, and the server keeps working.
    for (query, vars) in [
        ("{ documents { id ", Value::Null),
        ("{ noSuchField }", Value::Null),
        ("query { document(id: \"zz-not-hex\") { id } }", Value::Null),
        (
            "mutation($id: String!) { editText(id: $id, container: \"notes\", position: 9999, insert: \"x\") { id } }",
            json!({"id": doc}),
        ),
        (
            "mutation($id: String!) { editMap(id: $id, container: \"m\", key: \"k\", value: {a: 1}) { id } }",
            json!({"id": doc}),
        ),
    ] {
        let (status, body) = api_a.post(query, vars).await;
        let errors = body["errors"].as_array();
        assert!(
            errors.is_some_and(|e| !e.is_empty() && e[0]["message"].is_string()),
            "{query}: expected a GraphQL error, got HTTP {status}: {body}"
        );
    }
    // Not even JSON: still a GraphQL-shaped error.
    let resp = reqwest::Client::new()
        .post(format!("http://{}/graphql", node_a.graphql()))
        .bearer_auth(&token_a)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    let data = api_a
        .ok(
            "mutation($id: String!) { editMap(id: $id, container: \"form\", key: \"status\", value: \"ok\") { content } editList(id: $id, container: \"readings\", value: 12) { content } }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(
        data["editList"]["content"]["form"]["status"], "ok",
        "{data}"
    );
    assert_eq!(
        data["editList"]["content"]["readings"],
        json!([12]),
        "{data}"
    );
    // Records as JSON at a path, in and out.
    let data = api_a
        .ok(
            "mutation($id: String!, $v: JSON!) { setJson(id: $id, path: \"households\", value: $v) { id } }",
            json!({"id": doc, "v": [{"name": "Nkosi", "readings": [1.5]}]}),
        )
        .await;
    assert!(data["setJson"]["id"].is_string(), "{data}");
    let data = api_a
        .ok(
            "query($id: String!) { value(id: $id, path: \"households/0/readings\") }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(data["value"], json!([1.5]), "{data}");
    let (_, body) = api_a
        .post(
            "query($id: String!) { value(id: $id, path: \"7/x\") }",
            json!({"id": doc}),
        )
        .await;
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    let status = api_a
        .ok(
            "query($id: String!) { syncStatus(id: $id) { online knownPeers } documents { id } }",
            json!({"id": doc}),
        )
        .await;
    assert_eq!(status["syncStatus"]["online"], true, "{status}");
    assert_eq!(status["documents"][0]["id"], doc.as_str(), "{status}");
}

/// Sends raw HTTP/1.1 `request` to `addr` and returns the status code of the answer, read
/// within 10 s (the server must answer without waiting for a body it was not sent).
fn raw_status(addr: &str, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).expect("an answer within 10 s");
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"))
}

/// The API is closed to web pages and to anyone without the token: each refusal happens
/// before the request's body is read or a query runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_foreign_pages_wrong_hosts_big_bodies_and_missing_tokens() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let node = NodeProc::start("A", d.path(), "serve", &["--graphql", "127.0.0.1:0"]);
    let addr = node.graphql();
    let token = node.graphql_token();
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/graphql");
    let query = json!({"query": "{ documents { id } }"}).to_string();
    let post = |origin: Option<&str>, content_type: &str, auth: Option<&str>| {
        let mut r = http
            .post(&url)
            .header("content-type", content_type)
            .body(query.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send()
    };

    // The generated token is printed once and kept with mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let file = d.path().join("graphql.token");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);

    let ok = post(None, "application/json", Some(&token)).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    // No token, a wrong token: 401.
    assert_eq!(
        post(None, "application/json", None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        post(None, "application/json", Some("wrong-token-0123456789"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    // A foreign page, even with the token: 403. The console's own origin is fine.
    let foreign = post(
        Some("http://evil.example"),
        "application/json",
        Some(&token),
    )
    .await
    .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let own = post(
        Some(&format!("http://{addr}")),
        "application/json",
        Some(&token),
    )
    .await
    .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    // A no-cors fetch can only send text/plain: refused.
    assert_eq!(
        post(None, "text/plain", Some(&token))
            .await
            .unwrap()
            .status()
            .as_u16(),
        415
    );
    // DNS rebinding: a name that resolves here is not an address of this server.
    assert_eq!(
        raw_status(&addr, &format!(
            "POST /graphql HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\n\r\n{query}",
            query.len()
        )),
        421
    );
    // 100 MB announced, nothing sent: refused at once, without waiting for the body.
    let t0 = Instant::now();
    assert_eq!(
        raw_status(&addr, &format!(
            "POST /graphql HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\ncontent-length: 104857600\r\n\r\n"
        )),
        413
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Introspection is off unless asked for.
    let (_, body) = Api::new(&addr, Some(token.clone()))
        .post("{ __schema { types { name } } }", Value::Null)
        .await;
    assert!(
        body["errors"].is_array() || body["data"]["__schema"].is_null(),
        "introspection answered: {body}"
    );

    // WebSocket: a foreign page's handshake is refused; without the token the connection ends.
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let mut foreign_ws = request.clone();
    foreign_ws
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    let err = tokio_tungstenite::connect_async(foreign_ws)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    let (conn, _) = tokio_tungstenite::connect_async(request.clone())
        .await
        .unwrap();
    let refused = graphql_ws_client::Client::build(conn)
        .payload(json!({ "token": "wrong-token-0123456789" }))
        .unwrap()
        .subscribe(Op {
            query: "subscription { documentUpdated(id: \"00\") { id } }".into(),
            variables: Value::Null,
        })
        .await;
    assert!(
        refused.is_err(),
        "a subscription without the token was accepted"
    );

    // A second serve keeps the token and does not print it again.
    drop(node);
    let again = NodeProc::start("A again", d.path(), "serve", &["--graphql", "127.0.0.1:0"]);
    assert!(again.ready["graphql_token"].is_null(), "{}", again.ready);
    assert_eq!(again.graphql_token(), token);
}
