//! The GraphQL schema: documents, members and sync status to read; documents to create,
//! edit (text, map, list), delete, invite to, join and admit devices to; and a
//! `documentUpdated(id)` subscription fed by the node's events.

use async_graphql::{Context, Error, Json, Object, Result, Schema, SimpleObject, Subscription};
use fieldsync::{AuthorId, Document, DocumentId, Event, Node, Origin, Value};
use futures_util::Stream;

use crate::dispatch;
use crate::fmt;

/// The schema served by `fieldsync serve`.
pub type FieldSyncSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema over `node`.
pub fn build(node: Node, introspection: bool) -> FieldSyncSchema {
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(node)
        .limit_depth(12)
        .limit_complexity(500);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// A document as this node sees it.
#[derive(SimpleObject)]
pub struct DocumentView {
    /// Document id (64 hex characters).
    id: String,
    /// The document's content as JSON (`{}` while this device cannot read it).
    content: Json<serde_json::Value>,
    /// Version vector: author id -> highest sequence number seen.
    version: Json<serde_json::Value>,
    /// Operations stored for the document.
    op_count: u64,
    /// Local operations no peer has acknowledged yet.
    pending_ops: u64,
    /// Whether this device can read the document (a member, or a plain document).
    readable: bool,
    /// The members and their roles (empty for a document created before roles existed).
    roles: Vec<MemberRoleView>,
    /// This device's role, if it has one.
    my_role: Option<RoleView>,
}

/// What a device may do in a document.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum RoleView {
    /// Adds and removes members, changes roles; writes and reads.
    Admin,
    /// Writes and reads.
    Writer,
    /// Reads; its edits are refused.
    Reader,
    /// Stores and forwards the ciphertext; reads nothing.
    Relay,
}

impl From<fieldsync::Role> for RoleView {
    fn from(r: fieldsync::Role) -> Self {
        match r {
            fieldsync::Role::Admin => RoleView::Admin,
            fieldsync::Role::Writer => RoleView::Writer,
            fieldsync::Role::Reader => RoleView::Reader,
            fieldsync::Role::Relay => RoleView::Relay,
        }
    }
}

impl From<RoleView> for fieldsync::Role {
    fn from(r: RoleView) -> Self {
        match r {
            RoleView::Admin => fieldsync::Role::Admin,
            RoleView::Writer => fieldsync::Role::Writer,
            RoleView::Reader => fieldsync::Role::Reader,
            RoleView::Relay => fieldsync::Role::Relay,
        }
    }
}

/// A member of a document and its role.
#[derive(SimpleObject)]
pub struct MemberRoleView {
    /// The member's node id.
    member: String,
    /// Its role.
    role: RoleView,
}

fn roles_of(doc: &Document) -> Result<Vec<MemberRoleView>> {
    Ok(doc
        .roles()?
        .into_iter()
        .map(|(m, r)| MemberRoleView {
            member: m.to_string(),
            role: r.into(),
        })
        .collect())
}

fn author(device: &str) -> Result<AuthorId> {
    device
        .parse()
        .map_err(|e| Error::new(format!("invalid node id {device:?}: {e}")))
}

impl DocumentView {
    fn of(doc: &Document) -> Result<Self> {
        Ok(DocumentView {
            id: doc.id().to_string(),
            content: Json(fmt::json_value(&doc.to_json()?)),
            version: Json(fmt::version_json(&doc.version()?)),
            op_count: doc.op_count()?,
            pending_ops: doc.pending_ops()?,
            readable: doc.can_read()?,
            roles: roles_of(doc)?,
            my_role: doc.my_role()?.map(RoleView::from),
        })
    }
}

/// This node: its id and network addresses.
#[derive(SimpleObject)]
pub struct NodeView {
    /// Node id (the device's public key).
    id: String,
    /// Whether the network runs.
    online: bool,
    /// Addresses peers can reach this node on.
    addrs: Vec<String>,
}

/// Where a document stands with respect to its peers.
#[derive(SimpleObject)]
pub struct SyncStatusView {
    /// The document.
    document: String,
    /// Whether the network runs.
    online: bool,
    /// Local operations no peer has acknowledged yet.
    pending_local_ops: u64,
    /// Peers currently in a sync session for the document.
    connected_peers: Vec<String>,
    /// Peers the document was synced with at some point.
    known_peers: Vec<String>,
    /// Operations from peers that were rejected.
    rejected_ops: u64,
    /// When a sync of this document with a peer last finished (ms since the Unix epoch).
    last_sync_ms: Option<i64>,
    /// The known peers with when each was last connected, connected ones first.
    peers: Vec<PeerSeenView>,
    /// This device's request to be admitted, while it waits or after a refusal ("waiting
    /// for admission by …", "join refused by …: reason"); null otherwise.
    join: Option<String>,
}

/// A peer of a document and when it was last seen.
#[derive(SimpleObject)]
pub struct PeerSeenView {
    /// The peer's node id.
    peer: String,
    /// Whether it is in a sync session for the document now.
    connected: bool,
    /// When it was last connected (ms since the Unix epoch); null if not since the node
    /// started.
    last_seen_ms: Option<i64>,
    /// Whether the last sync session with it went through a relay; null if none yet.
    relayed: Option<bool>,
    /// That session's round-trip time (ms); null if none yet.
    rtt_ms: Option<u32>,
}

/// A change to a document, as pushed by `documentUpdated`.
#[derive(SimpleObject)]
pub struct DocumentUpdate {
    /// Document id.
    id: String,
    /// `local` for an edit on this node, else the id of the remote author; `unknown` after
    /// missed events (the content is current either way).
    origin: String,
    /// The document's content after the change.
    content: Json<serde_json::Value>,
    /// Version vector after the change.
    version: Json<serde_json::Value>,
}

fn node<'a>(ctx: &Context<'a>) -> &'a Node {
    ctx.data_unchecked::<Node>()
}

fn find(ctx: &Context<'_>, id: &str) -> Result<Document> {
    Ok(dispatch::find(node(ctx), id)?)
}

/// A JSON scalar as a document value; objects and arrays are refused.
fn to_value(v: serde_json::Value) -> Result<Value> {
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(
                n.as_f64()
                    .ok_or_else(|| Error::new(format!("number {n} is out of range")))?,
            ),
        },
        other => {
            return Err(Error::new(format!(
                "only scalar values (null, boolean, number, string) can be stored, got {other}"
            )))
        }
    })
}

fn non_empty(what: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::new(format!("{what} must not be empty")));
    }
    Ok(())
}

/// Queries.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// This node.
    async fn node(&self, ctx: &Context<'_>) -> Result<NodeView> {
        let n = node(ctx);
        let addrs = match n.network_info().await {
            Ok(i) => i.addrs.iter().map(|a| a.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        Ok(NodeView {
            id: n.author().to_string(),
            online: n.is_online().await,
            addrs,
        })
    }

    /// All documents of this node.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<DocumentView>> {
        let n = node(ctx);
        n.documents()?
            .into_iter()
            .map(|id| DocumentView::of(&n.document(id)?))
            .collect()
    }

    /// One document, by full id or unique hex prefix.
    async fn document(&self, ctx: &Context<'_>, id: String) -> Result<DocumentView> {
        DocumentView::of(&find(ctx, &id)?)
    }

    /// Members of an encrypted document's group (node ids), as this device sees them.
    async fn members(&self, ctx: &Context<'_>, id: String) -> Result<Vec<String>> {
        Ok(find(ctx, &id)?
            .members()?
            .iter()
            .map(|m| m.to_string())
            .collect())
    }

    /// The value at `path` of a document as JSON (`households/0/name`: a root container's
    /// name, then map keys and list indices; a segment of digits is an index); null when
    /// nothing is there.
    async fn value(
        &self,
        ctx: &Context<'_>,
        id: String,
        path: String,
    ) -> Result<Option<Json<serde_json::Value>>> {
        let doc = find(ctx, &id)?;
        let at = dispatch::parse_path(&path)?;
        doc.get_json(&at)?
            .map(|v| {
                serde_json::from_str(&v)
                    .map(Json)
                    .map_err(|e| Error::new(e.to_string()))
            })
            .transpose()
    }

    /// The content of an attachment (its reference, read from a document), base64: held
    /// here, or fetched from the document `id`'s peers first when the node is online. For
    /// files of a few MB (the whole content is in the response).
    async fn attachment(&self, ctx: &Context<'_>, id: String, reference: String) -> Result<String> {
        use base64::Engine as _;
        let node = node(ctx);
        let bytes = match node.read_attachment(&reference) {
            Ok(b) => b,
            Err(e) if e.kind() == fieldsync::ErrorKind::NotFound => {
                let doc = find(ctx, &id)?;
                let fetch = node.fetch_attachment(doc.id(), &reference).await?;
                if !fetch.complete {
                    return Err(Error::new(format!(
                        "the attachment could not be fetched ({} peer(s) refused, {} failed)",
                        fetch.refused_by.len(),
                        fetch.failed.len()
                    )));
                }
                node.read_attachment(&reference)?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// An offline bundle of document `id`, base64: what the device whose `bundleRequest`
    /// is `request` (base64) lacks, or everything this node holds. Signed by this node; the
    /// content stays encrypted to the document's members.
    async fn bundle(
        &self,
        ctx: &Context<'_>,
        id: String,
        request: Option<String>,
    ) -> Result<String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = find(ctx, &id)?;
        let request = match request {
            Some(r) => Some(
                b64.decode(r.as_bytes())
                    .map_err(|e| Error::new(format!("base64: {e}")))?,
            ),
            None => None,
        };
        let bundle = node(ctx)
            .export_bundle(doc.id(), request.as_deref())
            .await?;
        Ok(b64.encode(bundle.bytes))
    }

    /// What this node holds of document `id` (base64), for another device's `bundle`.
    async fn bundle_request(&self, ctx: &Context<'_>, id: String) -> Result<String> {
        use base64::Engine as _;
        let doc = find(ctx, &id)?;
        let request = node(ctx).bundle_request(doc.id()).await?;
        Ok(base64::engine::general_purpose::STANDARD.encode(request))
    }

    /// The members of a document and their roles.
    async fn roles(&self, ctx: &Context<'_>, id: String) -> Result<Vec<MemberRoleView>> {
        roles_of(&find(ctx, &id)?)
    }

    /// Sync status of a document.
    async fn sync_status(&self, ctx: &Context<'_>, id: String) -> Result<SyncStatusView> {
        let doc = find(ctx, &id)?;
        let st = node(ctx).sync_status(doc.id()).await?;
        let ids = |v: &[AuthorId]| v.iter().map(|a| a.to_string()).collect();
        Ok(SyncStatusView {
            document: st.document.to_string(),
            online: st.online,
            pending_local_ops: st.pending_local_ops,
            connected_peers: ids(&st.connected_peers),
            known_peers: ids(&st.known_peers),
            rejected_ops: st.rejected_ops,
            last_sync_ms: st.last_sync_ms,
            peers: st
                .peers
                .iter()
                .map(|p| PeerSeenView {
                    peer: p.peer.to_string(),
                    connected: p.connected,
                    last_seen_ms: p.last_seen_ms,
                    relayed: p.path.map(|p| p.relayed),
                    rtt_ms: p.path.map(|p| p.rtt_ms),
                })
                .collect(),
            join: st.join.as_ref().map(crate::fmt::join_state),
        })
    }
}

/// Mutations.
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Creates an empty (end-to-end encrypted) document.
    async fn create_document(&self, ctx: &Context<'_>) -> Result<DocumentView> {
        let doc = node(ctx).create_document()?;
        node(ctx).flush()?;
        DocumentView::of(&doc)
    }

    /// Adds `base64` (the content, at most the request body limit) as an attachment of
    /// document `id`, end-to-end encrypted, and returns its reference: put it in the
    /// document (`editMap`, `setJson`) for members to fetch.
    async fn add_attachment(
        &self,
        ctx: &Context<'_>,
        id: String,
        base64: String,
        media_type: String,
    ) -> Result<String> {
        use base64::Engine as _;
        let doc = find(ctx, &id)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64.as_bytes())
            .map_err(|e| Error::new(format!("base64: {e}")))?;
        Ok(doc.add_attachment(&bytes, &media_type)?)
    }

    /// Imports an offline bundle (base64, at most the request body limit): refused whole
    /// if a byte changed, each operation checked like one from the network. Returns the
    /// document's id.
    async fn import_bundle(&self, ctx: &Context<'_>, base64: String) -> Result<String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64.as_bytes())
            .map_err(|e| Error::new(format!("base64: {e}")))?;
        let imported = node(ctx).import_bundle(&bytes).await?;
        node(ctx).flush()?;
        Ok(imported.document.to_string())
    }

    /// Deletes a document on this node; returns its id.
    async fn delete_document(&self, ctx: &Context<'_>, id: String) -> Result<String> {
        let doc = find(ctx, &id)?;
        node(ctx).delete_document(doc.id())?;
        node(ctx).flush()?;
        Ok(doc.id().to_string())
    }

    /// Edits the text container `container`: deletes `delete` characters at `position`,
    /// then inserts `insert` there.
    async fn edit_text(
        &self,
        ctx: &Context<'_>,
        id: String,
        container: String,
        position: usize,
        #[graphql(default)] insert: String,
        #[graphql(default)] delete: usize,
    ) -> Result<DocumentView> {
        non_empty("container", &container)?;
        let doc = find(ctx, &id)?;
        let text = doc.text(&container)?;
        let len = text.len()?;
        if position > len || delete > len - position {
            return Err(Error::new(format!(
                "position {position} + delete {delete} is past the end of text {container:?} \
                 (length {len})"
            )));
        }
        if delete > 0 {
            text.delete(position, delete)?;
        }
        if !insert.is_empty() {
            text.insert(position, &insert)?;
        }
        node(ctx).flush()?;
        DocumentView::of(&doc)
    }

    /// Sets `key` of the map container `container` to a scalar `value`, or removes the key
    /// when `delete` is true.
    async fn edit_map(
        &self,
        ctx: &Context<'_>,
        id: String,
        container: String,
        key: String,
        value: Option<Json<serde_json::Value>>,
        #[graphql(default)] delete: bool,
    ) -> Result<DocumentView> {
        non_empty("container", &container)?;
        let doc = find(ctx, &id)?;
        let map = doc.map(&container)?;
        match (value, delete) {
            (None, true) => map.delete(&key)?,
            (Some(v), false) => map.set(&key, to_value(v.0)?)?,
            _ => return Err(Error::new("give exactly one of `value` or `delete: true`")),
        }
        node(ctx).flush()?;
        DocumentView::of(&doc)
    }

    /// Writes a JSON `value` at `path` as nested maps and lists, in one operation (under a
    /// map key it replaces the entry; at a list index it replaces the item, or appends at
    /// the list's length; at a root name an object fills the root map, an array the root
    /// list). Records in, records out: `value(id, path)` reads them back.
    async fn set_json(
        &self,
        ctx: &Context<'_>,
        id: String,
        path: String,
        value: Json<serde_json::Value>,
    ) -> Result<DocumentView> {
        let doc = find(ctx, &id)?;
        let at = dispatch::parse_path(&path)?;
        doc.set_json(&at, &value.0.to_string())?;
        node(ctx).flush()?;
        DocumentView::of(&doc)
    }

    /// Edits the list container `container`: with `delete` > 0 removes that many items at
    /// `index`; otherwise inserts the scalar `value` at `index` (appends without `index`).
    async fn edit_list(
        &self,
        ctx: &Context<'_>,
        id: String,
        container: String,
        index: Option<usize>,
        value: Option<Json<serde_json::Value>>,
        #[graphql(default)] delete: usize,
    ) -> Result<DocumentView> {
        non_empty("container", &container)?;
        let doc = find(ctx, &id)?;
        let list = doc.list(&container)?;
        let len = list.len()?;
        match (index, value, delete) {
            (Some(i), None, n) if n > 0 => {
                if i > len || n > len - i {
                    return Err(Error::new(format!(
                        "index {i} + delete {n} is past the end of list {container:?} (length {len})"
                    )));
                }
                list.delete(i, n)?;
            }
            (None, Some(v), 0) => list.push(to_value(v.0)?)?,
            (Some(i), Some(v), 0) => {
                if i > len {
                    return Err(Error::new(format!(
                        "index {i} is past the end of list {container:?} (length {len})"
                    )));
                }
                list.insert(i, to_value(v.0)?)?;
            }
            _ => {
                return Err(Error::new(
                    "give `value` (with an optional `index`), or `index` and `delete`",
                ))
            }
        }
        node(ctx).flush()?;
        DocumentView::of(&doc)
    }

    /// An invite string for a document, carrying this node's addresses.
    async fn invite(&self, ctx: &Context<'_>, id: String) -> Result<String> {
        Ok(find(ctx, &id)?.invite().await?)
    }

    /// Joins a document from an invite. For an encrypted document this device announces its
    /// key bundle; a member must admit it (`admitMember`, or a node running with `--admit`)
    /// before the content becomes readable.
    async fn join(&self, ctx: &Context<'_>, invite: String) -> Result<DocumentView> {
        let n = node(ctx);
        let doc = n.join(&invite).await?;
        if !doc.can_read()? {
            doc.announce_key_bundle()?;
        }
        n.flush()?;
        DocumentView::of(&doc)
    }

    /// Admits a device that announced its key bundle (it joined) to an encrypted document;
    /// returns the members.
    async fn admit_member(
        &self,
        ctx: &Context<'_>,
        id: String,
        device: String,
    ) -> Result<Vec<String>> {
        let doc = find(ctx, &id)?;
        let member: AuthorId = device
            .parse()
            .map_err(|e| Error::new(format!("invalid node id {device:?}: {e}")))?;
        doc.add_announced_member(member)?;
        node(ctx).flush()?;
        Ok(doc.members()?.iter().map(|m| m.to_string()).collect())
    }

    /// Adds a device that announced its key bundle (it joined) with a role (admin, writer
    /// or reader; admins only). Returns the roles.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        id: String,
        device: String,
        role: RoleView,
    ) -> Result<Vec<MemberRoleView>> {
        if role == RoleView::Relay {
            return Err(Error::new("a relay is added with addRelay"));
        }
        let doc = find(ctx, &id)?;
        let member = author(&device)?;
        doc.add_announced_member(member)?;
        if role != RoleView::Writer {
            doc.set_role(member, role.into())?;
        }
        node(ctx).flush()?;
        roles_of(&doc)
    }

    /// Makes a device a relay: it syncs the document's ciphertext and reads nothing (admins
    /// only). Returns the roles.
    async fn add_relay(
        &self,
        ctx: &Context<'_>,
        id: String,
        device: String,
    ) -> Result<Vec<MemberRoleView>> {
        let doc = find(ctx, &id)?;
        doc.add_relay(author(&device)?)?;
        node(ctx).flush()?;
        roles_of(&doc)
    }

    /// Changes a member's role among admin, writer and reader (admins only). Returns the
    /// roles.
    async fn set_role(
        &self,
        ctx: &Context<'_>,
        id: String,
        device: String,
        role: RoleView,
    ) -> Result<Vec<MemberRoleView>> {
        let doc = find(ctx, &id)?;
        doc.set_role(author(&device)?, role.into())?;
        node(ctx).flush()?;
        roles_of(&doc)
    }

    /// Removes a member (admins only): its later edits are refused everywhere and the key
    /// rotates. Returns the roles.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        id: String,
        device: String,
    ) -> Result<Vec<MemberRoleView>> {
        let doc = find(ctx, &id)?;
        doc.remove_member(author(&device)?)?;
        node(ctx).flush()?;
        roles_of(&doc)
    }
}

/// Subscriptions.
pub struct SubscriptionRoot;

fn update(node: &Node, id: DocumentId, origin: String) -> Option<DocumentUpdate> {
    let doc = node.document(id).ok()?;
    Some(DocumentUpdate {
        id: id.to_string(),
        origin,
        content: Json(fmt::json_value(&doc.to_json().ok()?)),
        version: Json(fmt::version_json(&doc.version().ok()?)),
    })
}

#[Subscription]
impl SubscriptionRoot {
    /// Pushes the document's content each time it changes (local edit or operations from a
    /// peer). Ends when the document is deleted.
    async fn document_updated(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> Result<impl Stream<Item = DocumentUpdate>> {
        let n = node(ctx).clone();
        let id = find(ctx, &id)?.id();
        let events = n.subscribe();
        Ok(futures_util::stream::unfold(
            (events, n),
            move |(mut events, n)| async move {
                loop {
                    let origin = match events.next().await? {
                        Event::DocumentChanged {
                            document,
                            origin: Origin::Local,
                        } if document == id => "local".to_string(),
                        Event::DocumentChanged {
                            document,
                            origin: Origin::Remote(a),
                        } if document == id => a.to_string(),
                        Event::Lagged { .. } => "unknown".to_string(),
                        _ => continue,
                    };
                    let u = update(&n, id, origin)?;
                    return Some((u, (events, n)));
                }
            },
        ))
    }
}
