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

const TOKEN: &str = "test-token-7f3a";

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
    token: Option<&'static str>,
}

impl Api {
    fn new(addr: &str, token: Option<&'static str>) -> Api {
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
        if let Some(t) = self.token {
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
    let node_a = NodeProc::start(
        "A",
        &a,
        "serve",
        &["--graphql", "127.0.0.1:0", "--token", TOKEN, "--admit"],
    );
    let node_b = NodeProc::start("B", &b, "node", &["--graphql", "127.0.0.1:0"]);
    let api_a = Api::new(&node_a.graphql(), Some(TOKEN));
    let api_b = Api::new(&node_b.graphql(), None);

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
        .payload(json!({ "token": TOKEN }))
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
        .bearer_auth(TOKEN)
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

#[test]
fn serve_refuses_a_non_loopback_address_without_a_token() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let all = std::net::Ipv4Addr::UNSPECIFIED;
    let out = common::run(
        d.path(),
        &["serve", "--graphql", &format!("{all}:0"), "--no-mdns"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
}
