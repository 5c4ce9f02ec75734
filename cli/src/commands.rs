//! The commands that act on one node's data: `init`, `doc create|list|show|edit|delete|admit`,
//! `invite`, `join` and `status`.
//!
//! Each runs against an open [`Node`] and returns its [`Output`] instead of printing, so the
//! same code serves a one-shot invocation (this process opens the data directory) and a
//! command forwarded to a running `fieldsync node` (see [`crate::control`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use fieldsync::{AuthorId, Document, DocumentId, Node, NodeConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::control::{self, Access};
use crate::fmt;

/// An error for the person at the terminal: one line that names the problem.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError(e.to_string())
            }
        }
    )*};
}
from_error!(
    fieldsync::Error,
    fieldsync::DocumentError,
    std::io::Error,
    serde_json::Error
);

/// Result with a [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// `$XDG_DATA_HOME/fieldsync`, else `~/.local/share/fieldsync`.
pub fn default_data_dir() -> Result<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = non_empty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(x).join("fieldsync"));
    }
    if let Some(h) = non_empty("HOME") {
        return Ok(PathBuf::from(h).join(".local/share/fieldsync"));
    }
    Err(CliError(
        "no data directory: set --data DIR (or XDG_DATA_HOME / HOME)".into(),
    ))
}

/// Commands on a node's documents. While `fieldsync node` runs on the same data directory,
/// they are forwarded to it, so they work the same whether or not a node is running.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum NodeCommand {
    /// Create the node in the data directory (device key and database); idempotent.
    Init,
    /// Create, list, show, edit, delete documents and admit devices to them.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Print an invite string for a document (for `join` on another device).
    ///
    /// While `fieldsync node` runs, the invite carries this node's addresses; otherwise the
    /// joining device must reach this one some other way (mDNS on the LAN, or `--peer`).
    Invite {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Join a document from an invite (`fs1:...`) printed by `fieldsync invite`.
    ///
    /// Registers the document, remembers the inviting node and, for an encrypted document,
    /// queues a join request for the inviter (an end-to-end encrypted direct message carrying
    /// the invite's token and this device's key bundle) and announces the key bundle in the
    /// document's control log. When both nodes run `fieldsync node`, the inviter's node checks
    /// the token and admits this device by itself; a member can also admit it by hand with
    /// `fieldsync doc admit DOC DEVICE`. The document syncs as soon as this node runs.
    Join {
        /// The invite string.
        #[arg(value_parser = parse_invite)]
        invite: String,
    },
    /// Node id, network, documents with version vectors, peers and pending ops.
    ///
    /// Connected peers are shown while `fieldsync node` runs on this data directory.
    Status,
}

/// `fieldsync doc ...`.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum DocCommand {
    /// Create an empty (end-to-end encrypted) document and print its id.
    Create,
    /// List the documents of this node.
    List,
    /// Print a document as JSON, with its version vector and op count.
    Show {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Edit a document: insert STR into the text container NAME at character POS.
    ///
    /// Example: fieldsync doc edit 3f2a --text notes --insert 0 "pump repaired"
    Edit {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// Name of the text container to edit (created if missing).
        #[arg(long, value_name = "NAME")]
        text: String,
        /// Character position to insert at (0 = start; at most the text's length).
        #[arg(long, value_name = "POS")]
        insert: usize,
        /// The text to insert.
        #[arg(value_name = "STR")]
        value: String,
    },
    /// Delete a document on this node (content, log, outbox). Peers keep their copies; a
    /// tombstone keeps sync from bringing it back here.
    Delete {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Admit a device to an encrypted document, once its key bundle arrived (the device ran
    /// `fieldsync join` and synced with this node). DEVICE is its node id (`fieldsync status`
    /// on that device). The device then reads the document's whole history.
    Admit {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The node id of the device to admit (64 hex characters).
        #[arg(value_parser = parse_author)]
        device: String,
    },
}

/// Checks an invite string at argument-parsing time.
fn parse_invite(s: &str) -> std::result::Result<String, String> {
    fieldsync::Invite::parse(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// Checks a node id at argument-parsing time.
fn parse_author(s: &str) -> std::result::Result<String, String> {
    s.trim()
        .parse::<AuthorId>()
        .map(|a| a.to_string())
        .map_err(|e| format!("not a node id (64 hex characters): {e}"))
}

/// What a command prints: its standard output and notes for standard error.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Output {
    /// Text for stdout.
    pub stdout: String,
    /// Notes for stderr.
    pub stderr: String,
}

impl Output {
    fn line(&mut self, s: impl std::fmt::Display) {
        let _ = writeln!(self.stdout, "{s}");
    }

    fn note(&mut self, s: impl std::fmt::Display) {
        let _ = writeln!(self.stderr, "{s}");
    }

    fn json(v: &serde_json::Value) -> Result<Output> {
        let mut o = Output::default();
        o.line(serde_json::to_string_pretty(v)?);
        Ok(o)
    }

    /// Writes the output to this process's stdout and stderr.
    pub fn print(&self) {
        print!("{}", self.stdout);
        eprint!("{}", self.stderr);
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn db_exists(data: &Path) -> bool {
    data.join(fieldsync::store::DB_FILE).is_file()
}

/// The error for a data directory without a node.
pub fn no_node(data: &Path) -> CliError {
    CliError(format!(
        "no FieldSync node in {}: run `fieldsync --data {} init` first",
        data.display(),
        shell_path(data)
    ))
}

/// Runs a node command on the data directory `data`: in this process, or forwarded to the
/// `fieldsync node` running there. Prints the result.
pub fn run(data: &Path, json: bool, cmd: NodeCommand) -> Result<()> {
    let init = matches!(cmd, NodeCommand::Init);
    if !init && !db_exists(data) {
        return Err(no_node(data));
    }
    std::fs::create_dir_all(data)?;
    let out = match control::acquire(data)? {
        Access::Local(_lock) => {
            let created = !db_exists(data);
            let node = Node::open(NodeConfig::new(data))?;
            let out = runtime()?.block_on(execute(&node, &cmd, json, created));
            node.flush()?;
            out?
        }
        #[cfg(unix)]
        Access::Remote(conn) => control::forward(conn, json, &cmd)?,
    };
    out.print();
    Ok(())
}

/// Executes `cmd` against `node`. `created` tells `init` whether it created the node.
pub async fn execute(node: &Node, cmd: &NodeCommand, json: bool, created: bool) -> Result<Output> {
    let c = Exec { node, json };
    match cmd {
        NodeCommand::Init => c.init(created),
        NodeCommand::Doc(DocCommand::Create) => c.doc_create(),
        NodeCommand::Doc(DocCommand::List) => c.doc_list(),
        NodeCommand::Doc(DocCommand::Show { id }) => c.doc_show(id),
        NodeCommand::Doc(DocCommand::Edit {
            id,
            text,
            insert,
            value,
        }) => c.doc_edit(id, text, *insert, value),
        NodeCommand::Doc(DocCommand::Delete { id }) => c.doc_delete(id),
        NodeCommand::Doc(DocCommand::Admit { id, device }) => c.doc_admit(id, device),
        NodeCommand::Invite { id } => c.invite(id).await,
        NodeCommand::Join { invite } => c.join(invite).await,
        NodeCommand::Status => c.status().await,
    }
}

/// Finds a document by full id or unique hex prefix.
pub fn find(node: &Node, id: &str) -> Result<Document> {
    let id = id.trim().to_ascii_lowercase();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError(format!(
            "invalid document id {id:?}: expected hex characters (see `fieldsync doc list`)"
        )));
    }
    if id.len() == 64 {
        let doc: DocumentId = id
            .parse()
            .map_err(|e| CliError(format!("invalid document id {id}: {e}")))?;
        return node
            .document(doc)
            .map_err(|_| CliError(format!("no document {id} on this node")));
    }
    if id.len() > 64 {
        return Err(CliError(format!(
            "invalid document id {id:?}: longer than 64 hex characters"
        )));
    }
    let matches: Vec<DocumentId> = node
        .documents()?
        .into_iter()
        .filter(|d| d.to_string().starts_with(&id))
        .collect();
    match matches.as_slice() {
        [one] => Ok(node.document(*one)?),
        [] => Err(CliError(format!(
            "no document matching {id:?} on this node (see `fieldsync doc list`)"
        ))),
        many => Err(CliError(format!(
            "document id prefix {id:?} is ambiguous ({} matches): give more characters",
            many.len()
        ))),
    }
}

/// A document's id, op counts and version vector as JSON.
pub fn doc_summary(doc: &Document) -> Result<serde_json::Value> {
    Ok(json!({
        "id": doc.id().to_string(),
        "op_count": doc.op_count()?,
        "pending_ops": doc.pending_ops()?,
        "version": fmt::version_json(&doc.version()?),
    }))
}

struct Exec<'a> {
    node: &'a Node,
    json: bool,
}

impl Exec<'_> {
    fn init(&self, created: bool) -> Result<Output> {
        let node = self.node;
        let data = &node.config().data_dir;
        if self.json {
            return Output::json(&json!({
                "data_dir": data.display().to_string(),
                "node": node.author().to_string(),
                "created": created,
            }));
        }
        let mut o = Output::default();
        let what = if created {
            "initialised"
        } else {
            "already initialised"
        };
        o.line(format!("node {what} in {}", data.display()));
        o.line(format!("node id: {}", node.author()));
        Ok(o)
    }

    fn doc_create(&self) -> Result<Output> {
        let doc = self.node.create_document()?;
        self.node.flush()?;
        if self.json {
            return Output::json(&json!({ "id": doc.id().to_string() }));
        }
        let mut o = Output::default();
        o.line(doc.id());
        Ok(o)
    }

    fn doc_list(&self) -> Result<Output> {
        let node = self.node;
        let docs = node.documents()?;
        if self.json {
            let list = docs
                .iter()
                .map(|d| doc_summary(&node.document(*d)?))
                .collect::<Result<Vec<_>>>()?;
            return Output::json(&serde_json::Value::Array(list));
        }
        let mut o = Output::default();
        if docs.is_empty() {
            o.line("no documents (create one with `fieldsync doc create`)");
        }
        for id in docs {
            let doc = node.document(id)?;
            o.line(format!(
                "{id}  {} ops, {} not yet delivered",
                doc.op_count()?,
                doc.pending_ops()?
            ));
        }
        Ok(o)
    }

    fn doc_show(&self, id: &str) -> Result<Output> {
        let node = self.node;
        let doc = find(node, id)?;
        let content = doc.to_json()?;
        if self.json {
            let mut v = doc_summary(&doc)?;
            v["content"] = fmt::json_value(&content);
            v["readable"] = doc.can_read()?.into();
            return Output::json(&v);
        }
        let mut o = Output::default();
        o.line(format!("document {}", doc.id()));
        o.line(fmt::pretty(&content, 0));
        let me = node.author();
        let name = |a: &AuthorId| (*a == me).then(|| "this node".to_string());
        o.line(format!("version: {}", fmt::version(&doc.version()?, name)));
        o.line(format!(
            "ops: {} ({} not yet delivered to a peer)",
            doc.op_count()?,
            doc.pending_ops()?
        ));
        if !doc.can_read()? {
            o.note(format!(
                "note: this device is not (yet) a member of the encrypted document; it is \
                 admitted when its join request reaches the inviter, or a member runs: \
                 fieldsync doc admit {} {}",
                fmt::short(&doc.id()),
                node.author()
            ));
        }
        Ok(o)
    }

    fn doc_edit(&self, id: &str, text: &str, pos: usize, value: &str) -> Result<Output> {
        if text.is_empty() {
            return Err(CliError("--text NAME must not be empty".into()));
        }
        let doc = find(self.node, id)?;
        let handle = doc.text(text)?;
        let len = handle.len()?;
        if pos > len {
            return Err(CliError(format!(
                "--insert {pos} is past the end of text {text:?} (length {len})"
            )));
        }
        handle.insert(pos, value)?;
        self.node.flush()?;
        if self.json {
            let mut v = doc_summary(&doc)?;
            v["content"] = fmt::json_value(&doc.to_json()?);
            return Output::json(&v);
        }
        let mut o = Output::default();
        o.line(format!("{text}: {}", handle.get()?));
        Ok(o)
    }

    fn doc_delete(&self, id: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        self.node.delete_document(doc.id())?;
        self.node.flush()?;
        if self.json {
            return Output::json(&json!({ "deleted": doc.id().to_string() }));
        }
        let mut o = Output::default();
        o.line(format!("deleted document {}", doc.id()));
        Ok(o)
    }

    fn doc_admit(&self, id: &str, device: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let member: AuthorId = device
            .parse()
            .map_err(|e| CliError(format!("invalid node id {device:?}: {e}")))?;
        if doc.members()?.contains(&member) {
            return Err(CliError(format!(
                "{} is already a member of document {}",
                fmt::short(&member),
                fmt::short(&doc.id())
            )));
        }
        doc.add_announced_member(member).map_err(|e| match e {
            fieldsync::DocumentError::InvalidArgument(m) if m.starts_with("no key bundle") => {
                CliError(format!(
                    "{m}: the device must run `fieldsync join` for this document and sync \
                     with this node first"
                ))
            }
            other => other.into(),
        })?;
        self.node.flush()?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "admitted": member.to_string(),
                "members": doc.members()?.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            }));
        }
        let mut o = Output::default();
        o.line(format!(
            "admitted {} to document {} ({} members)",
            fmt::short(&member),
            doc.id(),
            doc.members()?.len()
        ));
        Ok(o)
    }

    async fn invite(&self, id: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let invite = doc.invite().await?;
        let online = self.node.is_online().await;
        let mut o = if self.json {
            Output::json(&json!({
                "document": doc.id().to_string(),
                "invite": invite,
                "online": online,
            }))?
        } else {
            let mut o = Output::default();
            o.line(&invite);
            o
        };
        if !online && !self.json {
            o.note(
                "note: no `fieldsync node` runs on this data directory, so the invite carries \
                 no address; the joining device finds this one by mDNS on the LAN or with \
                 `fieldsync node --peer NODE@ADDR`",
            );
        }
        Ok(o)
    }

    async fn join(&self, invite: &str) -> Result<Output> {
        let doc = self.node.join(invite).await?;
        let announced = if doc.can_read()? {
            false
        } else {
            doc.announce_key_bundle()?;
            true
        };
        self.node.flush()?;
        let online = self.node.is_online().await;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "node": self.node.author().to_string(),
                "announced_key_bundle": announced,
                "online": online,
            }));
        }
        let mut o = Output::default();
        o.line(doc.id());
        if announced {
            o.note(format!(
                "joined; a join request waits for the inviter: run `fieldsync node` on both \
                 devices and the inviter's node admits this one (or a member runs: \
                 fieldsync doc admit {} {})",
                fmt::short(&doc.id()),
                self.node.author()
            ));
        }
        if !online {
            o.note("note: the document syncs once `fieldsync node` runs on this data directory");
        }
        Ok(o)
    }

    async fn status(&self) -> Result<Output> {
        let node = self.node;
        let docs = node.documents()?;
        let online = node.is_online().await;
        let addrs: Vec<String> = match node.network_info().await {
            Ok(info) => info.addrs.iter().map(|a| a.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        let mut peers = std::collections::BTreeSet::new();
        let mut rows = Vec::new();
        for id in &docs {
            let doc = node.document(*id)?;
            let st = node.sync_status(*id).await?;
            peers.extend(st.connected_peers.iter().copied());
            let mut v = doc_summary(&doc)?;
            v["pending_ops"] = st.pending_local_ops.into();
            v["connected_peers"] = st.connected_peers.iter().map(|p| p.to_string()).collect();
            v["known_peers"] = st.known_peers.iter().map(|p| p.to_string()).collect();
            v["rejected_ops"] = st.rejected_ops.into();
            v["members"] = doc.members()?.iter().map(|m| m.to_string()).collect();
            rows.push((doc, st, v));
        }
        if self.json {
            return Output::json(&json!({
                "data_dir": node.config().data_dir.display().to_string(),
                "node": node.author().to_string(),
                "online": online,
                "addrs": addrs,
                "connected_peers": peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "documents": rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            }));
        }
        let mut o = Output::default();
        o.line(format!("node:      {}", node.author()));
        o.line(format!("data dir:  {}", node.config().data_dir.display()));
        if online {
            o.line(format!("network:   online on {}", addrs.join(", ")));
            let p: Vec<String> = peers.iter().map(fmt::short).collect();
            o.line(format!(
                "peers:     {}",
                if p.is_empty() {
                    "none connected".to_string()
                } else {
                    p.join(", ")
                }
            ));
        } else {
            o.line("network:   offline (no `fieldsync node` runs on this data directory)");
        }
        o.line(format!("documents: {}", docs.len()));
        let me = node.author();
        for (doc, st, _) in rows {
            let name = |a: &AuthorId| (*a == me).then(|| "this node".to_string());
            o.line(format!("  {}", doc.id()));
            o.line(format!(
                "    version:  {}",
                fmt::version(&doc.version()?, name)
            ));
            o.line(format!(
                "    ops:      {} ({} not yet delivered to a peer)",
                doc.op_count()?,
                st.pending_local_ops
            ));
            let known: Vec<String> = st.known_peers.iter().map(fmt::short).collect();
            let connected: Vec<String> = st.connected_peers.iter().map(fmt::short).collect();
            o.line(format!(
                "    peers:    {}{}",
                if known.is_empty() {
                    "none yet".to_string()
                } else {
                    known.join(", ")
                },
                if online {
                    format!(" ({} connected)", connected.len())
                } else {
                    String::new()
                }
            ));
            if st.rejected_ops > 0 {
                o.line(format!("    rejected: {} ops from peers", st.rejected_ops));
            }
        }
        Ok(o)
    }
}

/// A path as it could be typed into a shell (quoted if it has spaces).
fn shell_path(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(char::is_whitespace) {
        format!("'{s}'")
    } else {
        s
    }
}
