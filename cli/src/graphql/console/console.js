// FieldSync web console: plain JavaScript over the node's GraphQL API (same origin).
// The token lives in this tab's sessionStorage only.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("fieldsync-token") || "";
let selected = null;
let socket = null;
let statusTimer = null;

async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + token },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new Error("the access token was refused");
  const body = await response.json();
  if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function text(el, value) { el.textContent = value; }

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

async function signIn(event) {
  if (event) event.preventDefault();
  const typed = $("token").value.trim();
  if (typed) token = typed;
  try {
    const data = await gql("{ node { id online addrs } }");
    sessionStorage.setItem("fieldsync-token", token);
    text($("login-error"), "");
    $("login").hidden = true;
    $("app").hidden = false;
    text($("node"), "node " + data.node.id.slice(0, 16) + "… " + (data.node.online ? "online on " + data.node.addrs.join(", ") : "offline"));
    await loadDocuments();
  } catch (e) {
    text($("login-error"), e.message);
  }
}

async function loadDocuments() {
  const data = await gql("{ documents { id pendingOps readable } }");
  const list = $("documents");
  list.replaceChildren();
  for (const d of data.documents) {
    const li = document.createElement("li");
    li.dataset.id = d.id;
    li.title = d.id;
    li.textContent = d.id.slice(0, 20) + "… ";
    const pending = document.createElement("span");
    pending.className = "pending";
    pending.textContent = d.pendingOps ? d.pendingOps + " to send" : (d.readable ? "" : "not readable yet");
    li.appendChild(pending);
    if (d.id === selected) li.classList.add("selected");
    li.addEventListener("click", () => select(d.id));
    list.appendChild(li);
  }
}

async function select(id) {
  selected = id;
  for (const li of $("documents").children) li.classList.toggle("selected", li.dataset.id === id);
  $("document").hidden = false;
  text($("doc-id"), id);
  await refresh();
  subscribe(id);
  clearInterval(statusTimer);
  statusTimer = setInterval(() => refreshStatus().catch(() => {}), 2000);
}

async function refresh() {
  const data = await gql(
    "query($id: String!) { document(id: $id) { content opCount pendingOps readable roles { member role } myRole } }",
    { id: selected });
  const d = data.document;
  text($("doc-json"), JSON.stringify(d.content, null, 2));
  const members = $("members");
  members.replaceChildren();
  for (const r of d.roles) members.appendChild(row([r.member, r.role]));
  await refreshStatus(d);
}

async function refreshStatus(doc) {
  if (!selected) return;
  const data = await gql(
    "query($id: String!) { syncStatus(id: $id) { online pendingLocalOps lastSyncMs join peers { peer connected lastSeenMs } } }",
    { id: selected });
  const s = data.syncStatus;
  const last = s.lastSyncMs ? new Date(s.lastSyncMs).toLocaleTimeString() : "not yet";
  text($("doc-status"), (s.online ? "online" : "offline") + " · " + s.pendingLocalOps + " pending · last sync " + last +
    (doc ? " · " + doc.opCount + " ops · my role " + (doc.myRole || "none") : "") +
    (s.join ? " · " + s.join : ""));
  const peers = $("peers");
  peers.replaceChildren();
  for (const p of s.peers) {
    const seen = p.lastSeenMs ? "last seen " + new Date(p.lastSeenMs).toLocaleTimeString() : "not seen since start";
    peers.appendChild(row([p.peer, p.connected ? "connected" : seen]));
  }
}

// graphql-transport-ws: connection_init (token in the payload), subscribe, next.
function subscribe(id) {
  if (socket) socket.close();
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql/ws", "graphql-transport-ws");
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: { token } }));
  ws.onmessage = (message) => {
    const m = JSON.parse(message.data);
    if (m.type === "connection_ack") {
      ws.send(JSON.stringify({
        id: "doc", type: "subscribe",
        payload: {
          query: "subscription($id: String!) { documentUpdated(id: $id) { id origin content } }",
          variables: { id },
        },
      }));
      $("live").classList.add("on");
      text($("live"), "live");
    } else if (m.type === "next" && m.payload.data && ws === socket) {
      const u = m.payload.data.documentUpdated;
      text($("doc-json"), JSON.stringify(u.content, null, 2));
      refreshStatus().catch(() => {});
      loadDocuments().catch(() => {});
    } else if (m.type === "ping") {
      ws.send(JSON.stringify({ type: "pong" }));
    }
  };
  ws.onclose = () => {
    if (ws === socket) { $("live").classList.remove("on"); text($("live"), "offline"); }
  };
}

async function edit(event) {
  event.preventDefault();
  text($("edit-error"), "");
  let value;
  try {
    value = JSON.parse($("edit-value").value);
  } catch (e) {
    text($("edit-error"), "the value is not JSON: " + e.message);
    return;
  }
  try {
    await gql("mutation($id: String!, $path: String!, $value: JSON!) { setJson(id: $id, path: $path, value: $value) { id } }",
      { id: selected, path: $("edit-path").value.trim(), value });
    await refresh();
  } catch (e) {
    text($("edit-error"), e.message);
  }
}

async function create() {
  const data = await gql("mutation { createDocument { id } }");
  await loadDocuments();
  await select(data.createDocument.id);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("edit-form").addEventListener("submit", edit);
  $("create").addEventListener("click", () => create().catch((e) => text($("edit-error"), e.message)));
  if (token) signIn();
});
