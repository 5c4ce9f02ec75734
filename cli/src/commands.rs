//! The node commands: init, doc create/list/show/edit, invite, status.

use std::path::{Path, PathBuf};

use fieldsync::{Document, DocumentId, Node, NodeConfig};
use serde_json::json;

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

/// What every node command needs: where the node lives and how to print.
pub struct Ctx {
    pub data: PathBuf,
    pub json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

impl Ctx {
    fn db_exists(&self) -> bool {
        self.data.join(fieldsync::store::DB_FILE).is_file()
    }

    /// Opens an existing node; refuses to create one implicitly (that is `init`'s job).
    fn open(&self) -> Result<Node> {
        if !self.db_exists() {
            return Err(CliError(format!(
                "no FieldSync node in {}: run `fieldsync --data {} init` first",
                self.data.display(),
                shell_path(&self.data)
            )));
        }
        Ok(Node::open(NodeConfig::new(&self.data))?)
    }

    /// Finds a document by full id or unique hex prefix.
    fn find(&self, node: &Node, id: &str) -> Result<Document> {
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

    fn doc_summary(&self, doc: &Document) -> Result<serde_json::Value> {
        Ok(json!({
            "id": doc.id().to_string(),
            "op_count": doc.op_count()?,
            "pending_ops": doc.pending_ops()?,
            "version": fmt::version_json(&doc.version()?),
        }))
    }

    pub fn init(&self) -> Result<()> {
        let existed = self.db_exists();
        let node = Node::open(NodeConfig::new(&self.data))?;
        if self.json {
            return print_json(&json!({
                "data_dir": self.data.display().to_string(),
                "node": node.author().to_string(),
                "created": !existed,
            }));
        }
        let what = if existed {
            "already initialised"
        } else {
            "initialised"
        };
        println!("node {what} in {}", self.data.display());
        println!("node id: {}", node.author());
        Ok(())
    }

    pub fn doc_create(&self) -> Result<()> {
        let node = self.open()?;
        let doc = node.create_document()?;
        node.flush()?;
        if self.json {
            return print_json(&json!({ "id": doc.id().to_string() }));
        }
        println!("{}", doc.id());
        Ok(())
    }

    pub fn doc_list(&self) -> Result<()> {
        let node = self.open()?;
        let docs = node.documents()?;
        if self.json {
            let list = docs
                .iter()
                .map(|d| self.doc_summary(&node.document(*d)?))
                .collect::<Result<Vec<_>>>()?;
            return print_json(&serde_json::Value::Array(list));
        }
        if docs.is_empty() {
            println!("no documents (create one with `fieldsync doc create`)");
        }
        for id in docs {
            let doc = node.document(id)?;
            println!(
                "{id}  {} ops, {} not yet delivered",
                doc.op_count()?,
                doc.pending_ops()?
            );
        }
        Ok(())
    }

    pub fn doc_show(&self, id: &str) -> Result<()> {
        let node = self.open()?;
        let doc = self.find(&node, id)?;
        let content = doc.to_json()?;
        if self.json {
            let mut v = self.doc_summary(&doc)?;
            v["content"] = fmt::json_value(&content);
            return print_json(&v);
        }
        println!("document {}", doc.id());
        println!("{}", fmt::pretty(&content, 0));
        let me = node.author();
        let name = |a: &fieldsync::AuthorId| (*a == me).then(|| "this node".to_string());
        println!("version: {}", fmt::version(&doc.version()?, name));
        println!(
            "ops: {} ({} not yet delivered to a peer)",
            doc.op_count()?,
            doc.pending_ops()?
        );
        Ok(())
    }

    pub fn doc_edit(&self, id: &str, text: &str, pos: usize, value: &str) -> Result<()> {
        if text.is_empty() {
            return Err(CliError("--text NAME must not be empty".into()));
        }
        let node = self.open()?;
        let doc = self.find(&node, id)?;
        let handle = doc.text(text)?;
        let len = handle.len()?;
        if pos > len {
            return Err(CliError(format!(
                "--insert {pos} is past the end of text {text:?} (length {len})"
            )));
        }
        handle.insert(pos, value)?;
        node.flush()?;
        if self.json {
            let mut v = self.doc_summary(&doc)?;
            v["content"] = fmt::json_value(&doc.to_json()?);
            return print_json(&v);
        }
        println!("{text}: {}", handle.get()?);
        Ok(())
    }

    pub fn invite(&self, id: &str) -> Result<()> {
        let node = self.open()?;
        let doc = self.find(&node, id)?;
        let invite = runtime()?.block_on(doc.invite())?;
        if self.json {
            return print_json(&json!({
                "document": doc.id().to_string(),
                "invite": invite,
                "online": false,
            }));
        }
        println!("{invite}");
        eprintln!(
            "note: this command does not keep a network running, so the invite carries no \
             address; the peer connects once both run a network (`fieldsync node`, coming)"
        );
        Ok(())
    }

    pub fn status(&self) -> Result<()> {
        let node = self.open()?;
        let rt = runtime()?;
        let docs = node.documents()?;
        let mut rows = Vec::new();
        for id in &docs {
            let doc = node.document(*id)?;
            let st = rt.block_on(node.sync_status(*id))?;
            let mut v = self.doc_summary(&doc)?;
            v["known_peers"] = st.known_peers.iter().map(|p| p.to_string()).collect();
            v["rejected_ops"] = st.rejected_ops.into();
            rows.push((doc, st, v));
        }
        let online = rt.block_on(node.is_online());
        if self.json {
            return print_json(&json!({
                "data_dir": self.data.display().to_string(),
                "node": node.author().to_string(),
                "online": online,
                "documents": rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            }));
        }
        println!("node:      {}", node.author());
        println!("data dir:  {}", self.data.display());
        println!("network:   {}", if online { "online" } else { "offline" });
        println!("documents: {}", docs.len());
        let me = node.author();
        for (doc, st, _) in rows {
            let name = |a: &fieldsync::AuthorId| (*a == me).then(|| "this node".to_string());
            println!("  {}", doc.id());
            println!("    version:  {}", fmt::version(&doc.version()?, name));
            println!(
                "    ops:      {} ({} not yet delivered to a peer)",
                doc.op_count()?,
                st.pending_local_ops
            );
            let peers: Vec<String> = st.known_peers.iter().map(fmt::short).collect();
            println!(
                "    peers:    {}",
                if peers.is_empty() {
                    "none yet".to_string()
                } else {
                    peers.join(", ")
                }
            );
            if st.rejected_ops > 0 {
                println!("    rejected: {} ops from peers", st.rejected_ops);
            }
        }
        Ok(())
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
