//! The web console in a real browser: headless Chromium (Debian `chromium`; `make test`
//! installs it) driven over the DevTools protocol. Node A serves the API and the console;
//! node B joined A's document. The page signs in with A's token, shows the document, edits
//! it, and shows B's edit without a reload. A screenshot goes to `target/console.png`.
//!
//! Chromium runs with no network but 127.0.0.1 (background services off, every host name
//! mapped to nothing). Set FIELDSYNC_SKIP_BROWSER=1 to skip where no browser can run.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{init, json, NodeProc, TIMEOUT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The browser process, killed on drop.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string()))
        })
}

/// A DevTools session on one page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(msg))
            .await
            .expect("send to the browser");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from the browser in 30 s"))
                .expect("browser connection open")
                .expect("browser message");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page; returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is `true` (bounded).
    async fn wait_for(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self.eval(expr).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body.innerText").await;
                panic!("timed out waiting for {what}; the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_shows_edits_and_follows_another_nodes_change() {
    if std::env::var_os("FIELDSYNC_SKIP_BROWSER").is_some() {
        eprintln!("FIELDSYNC_SKIP_BROWSER is set: the console test does not run");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromium = chromium().expect(
        "chromium is needed for the console test (`make test` installs the Debian package; \
         FIELDSYNC_SKIP_BROWSER=1 skips the test)",
    );

    // A serves the console; B holds the same document.
    let dirs = tempfile::tempdir().unwrap();
    let (a, b) = (dirs.path().join("a"), dirs.path().join("b"));
    init(&a);
    let b_id = init(&b);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    json(&a, &["doc", "set", &doc, "site", r#"{"name":"Kisumu"}"#]);
    let node_a = NodeProc::start("A", &a, "serve", &["--graphql", "127.0.0.1:0", "--admit"]);
    let node_b = NodeProc::start("B", &b, "node", &[]);
    let invite = json(&a, &["invite", &doc])["invite"]
        .as_str()
        .unwrap()
        .to_string();
    json(&b, &["join", &invite]);
    common::wait_until(
        "B reads A's document",
        || {
            common::run(&b, &["--json", "doc", "show", &doc])
                .status
                .success()
                && String::from_utf8_lossy(
                    &common::run(&b, &["--json", "doc", "show", &doc]).stdout,
                )
                .contains("Kisumu")
        },
        || format!("A:\n{}\nB:\n{}", node_a.log_text(), node_b.log_text()),
    );

    // The browser, on A's console, with no way out but loopback.
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", node_a.graphql());
    let _browser = Browser(
        Command::new(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--metrics-recording-only",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium"),
    );
    // Chromium writes its DevTools port into the profile.
    let port_file = profile.path().join("DevToolsActivePort");
    let deadline = Instant::now() + TIMEOUT;
    let port = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not open its DevTools port"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The HTTP side may answer a moment after the port file appears.
    let targets = loop {
        if let Some(t) = devtools_get(port, "/json/list").await {
            if t.as_array()
                .is_some_and(|a| a.iter().any(|t| t["type"] == "page"))
            {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium's DevTools endpoint did not answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ws_url = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .unwrap_or_else(|| panic!("no page target: {targets}"))
        .to_string();
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("DevTools connection");
    let mut page = Page { ws, next_id: 0 };

    // Sign in with the token.
    // `complete`: the deferred console.js has run and handles the button (clicking earlier
    // was lost once on a loaded machine).
    page.wait_for(
        "the sign-in form and its script",
        "document.readyState === 'complete' && !!document.getElementById('token')",
    )
    .await;
    let token = node_a.graphql_token();
    page.eval(&format!(
        "document.getElementById('token').value = {}; document.getElementById('login-button').click(); true",
        Value::String(token)
    ))
    .await;
    // The document is listed; open it.
    let item = format!("document.querySelector('#documents li[data-id=\"{doc}\"]')");
    page.wait_for("the document in the list", &format!("!!{item}"))
        .await;
    page.eval(&format!("{item}.click(); true")).await;
    page.wait_for(
        "the document's JSON",
        "document.getElementById('doc-json').textContent.includes('Kisumu')",
    )
    .await;
    page.wait_for(
        "the live subscription",
        "document.getElementById('live').textContent === 'live'",
    )
    .await;

    // Edit it in the page: A has the edit.
    page.eval(
        "document.getElementById('edit-path').value = 'site/status'; \
         document.getElementById('edit-value').value = '\"repaired\"'; \
         document.getElementById('edit-button').click(); true",
    )
    .await;
    common::wait_until(
        "A holds the console's edit",
        || {
            String::from_utf8_lossy(&common::run(&a, &["--json", "doc", "show", &doc]).stdout)
                .contains("repaired")
        },
        || node_a.log_text(),
    );

    // B edits; the page shows it without a reload.
    let loaded_at = page.eval("performance.timeOrigin").await;
    json(&b, &["doc", "set", &doc, "site/visited_by", r#""team B""#]);
    page.wait_for(
        "B's edit in the page",
        "document.getElementById('doc-json').textContent.includes('team B')",
    )
    .await;
    assert_eq!(
        page.eval("performance.timeOrigin").await,
        loaded_at,
        "the page was reloaded"
    );
    // B is listed among the peers, connected or with when it was last seen.
    page.wait_for(
        "B in the peers table",
        &format!(
            "(() => {{ const t = document.getElementById('peers').textContent; \
             return t.includes('{b_id}') && (t.includes('connected') || t.includes('last seen')); }})()"
        ),
    )
    .await;

    // A screenshot for review.
    let shot = page
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png = decode_base64(shot["data"].as_str().unwrap());
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console.png");
    std::fs::write(&out, png).unwrap();
    eprintln!("console screenshot: {}", out.display());
}

/// GET `path` from the DevTools HTTP endpoint; `None` until it answers with JSON.
async fn devtools_get(port: u16, path: &str) -> Option<Value> {
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (val(c) as u32) << (18 - 6 * i));
        let k = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + k]);
    }
    out
}
