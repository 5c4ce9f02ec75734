//! The dispatcher: runs a [`NodeCommand`] on a data directory, in this process or forwarded
//! to the `fieldsync node` running there ([`run`]), and executes it against an open [`Node`]
//! ([`execute`], through [`Exec`]), returning its [`Output`] instead of printing.
//!
//! The same code serves a one-shot invocation (this process opens the data directory) and a
//! command forwarded to a running node (see [`crate::control`]). [`find`] and
//! [`doc_summary`] are shared with the GraphQL API.

use std::path::Path;

use fieldsync::{AuthorId, Document, DocumentId, Node, NodeConfig, PathSegment};
use serde_json::json;

use crate::control::{self, Access};
use crate::error::{no_node, CliError, Result};
use crate::fmt;
use crate::request::{DocCommand, MemberCommand, NodeCommand, Output};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Creates the data directory private to this user (0700) before anything is put in it:
/// the lock file and the control socket are never reachable through a wider directory.
pub fn private_dir(data: &Path) -> Result<()> {
    std::fs::create_dir_all(data)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Runs a node command on the data directory `data`: in this process, or forwarded to the
/// `fieldsync node` running there. Prints the result.
pub fn run(data: &Path, json: bool, cmd: NodeCommand) -> Result<()> {
    let init = matches!(cmd, NodeCommand::Init);
    if !init && !Node::exists(data) {
        return Err(no_node(data));
    }
    private_dir(data)?;
    let cmd = cmd
        .with_absolute_paths()
        .map_err(|e| CliError::msg(format!("file path: {e}")))?
        .with_inputs()?;
    let out = match control::acquire(data)? {
        Access::Local(_lock) => {
            let created = !Node::exists(data);
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
            ..
        }) => c.doc_edit(id, text, *insert, value.as_deref().unwrap_or_default()),
        NodeCommand::Doc(DocCommand::Delete { id }) => c.doc_delete(id),
        NodeCommand::Doc(DocCommand::Snapshot { id }) => c.doc_snapshot(id),
        NodeCommand::Doc(DocCommand::Attach {
            id,
            file,
            media_type,
        }) => c.doc_attach(id, file, media_type),
        NodeCommand::Doc(DocCommand::Attachment {
            reference,
            out,
            doc,
        }) => c.doc_attachment(reference, out, doc.as_deref()).await,
        NodeCommand::Doc(DocCommand::CollectAttachments) => c.collect_attachments(),
        NodeCommand::Doc(DocCommand::Compact { id, keep_days }) => c.doc_compact(id, *keep_days),
        NodeCommand::Doc(DocCommand::Get { id, path }) => c.doc_get(id, path),
        NodeCommand::Doc(DocCommand::Set {
            id, path, value, ..
        }) => c.doc_set(id, path, value.as_deref().unwrap_or_default()),
        NodeCommand::Doc(DocCommand::Export { id, out }) => c.doc_export(id, out),
        NodeCommand::Doc(DocCommand::Import { file }) => c.doc_import(file),
        NodeCommand::Doc(DocCommand::Admit { id, device }) => c.doc_admit(id, device),
        NodeCommand::Doc(DocCommand::Member(m)) => c.member(m),
        NodeCommand::Bundle(b) => crate::bundles::run(node, json, b).await,
        NodeCommand::Invite {
            id,
            valid_for,
            max_uses,
            revoke,
        } => {
            if *revoke {
                c.revoke_invites(id)
            } else {
                c.invite(id, *valid_for, *max_uses).await
            }
        }
        NodeCommand::Join { invite } => c.join(invite).await,
        NodeCommand::Status => c.status().await,
    }
}

/// A path as the CLI writes it: `households/0/name` (segments of digits are list indices).
pub fn parse_path(path: &str) -> Result<Vec<PathSegment>> {
    let segments: Vec<PathSegment> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(i) => PathSegment::Index(i),
            Err(_) => PathSegment::Key(s.to_string()),
        })
        .collect();
    if !matches!(segments.first(), Some(PathSegment::Key(_))) {
        return Err(CliError::msg(format!(
            "path {path:?}: start with a root container's name, e.g. households/0/name"
        )));
    }
    Ok(segments)
}

/// Writes `bytes` to a new or truncated file readable by this user only (an existing file is
/// restricted to 0600 before anything is written to it).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    #[cfg(unix)]
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Finds a document by full id or unique hex prefix.
pub fn find(node: &Node, id: &str) -> Result<Document> {
    let id = id.trim().to_ascii_lowercase();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::invalid(format!(
            "invalid document id {id:?}: expected hex characters (see `fieldsync doc list`)"
        )));
    }
    if id.len() == 64 {
        let doc: DocumentId = id
            .parse()
            .map_err(|e| CliError::invalid(format!("invalid document id {id}: {e}")))?;
        return node
            .document(doc)
            .map_err(|_| CliError::not_found(format!("no document {id} on this node")));
    }
    if id.len() > 64 {
        return Err(CliError::invalid(format!(
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
        [] => Err(CliError::not_found(format!(
            "no document matching {id:?} on this node (see `fieldsync doc list`)"
        ))),
        many => Err(CliError::invalid(format!(
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
            let ops = doc.op_count()?;
            let pending = doc.pending_ops()?;
            let roles = doc.roles()?;
            let alone = !roles.is_empty() && roles.iter().all(|(m, _)| *m == node.author());
            let line = if let Some(state) = node.join_state(id)? {
                format!("{id}  {}", fmt::join_state(&state))
            } else if pending == 0 {
                format!("{id}  {ops} ops, all delivered to a peer")
            } else if alone {
                format!("{id}  {ops} ops, on this device only (no other member yet)")
            } else {
                format!("{id}  {ops} ops, {pending} waiting to reach a peer")
            };
            o.line(line);
        }
        Ok(o)
    }

    fn doc_show(&self, id: &str) -> Result<Output> {
        let node = self.node;
        let doc = find(node, id)?;
        let content = doc.to_json()?;
        let readable = doc.can_read()?;
        if !readable && content == "{}" {
            // Nothing to show: say why instead of printing `{}`.
            let why = match node.join_state(doc.id())? {
                Some(state) => fmt::join_state(&state),
                None => format!(
                    "this device is not a member; a member can run: fieldsync doc admit {} {}",
                    fmt::short(&doc.id()),
                    node.author()
                ),
            };
            return Err(CliError::not_allowed(format!(
                "document {} is not readable on this device: {why}",
                fmt::short(&doc.id())
            )));
        }
        if self.json {
            let mut v = doc_summary(&doc)?;
            v["content"] = fmt::json_value(&content);
            v["readable"] = readable.into();
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
        if !readable {
            o.note(
                "note: this device is no longer a member: it shows what it could read before \
                 its removal",
            );
        }
        Ok(o)
    }

    fn doc_edit(&self, id: &str, text: &str, pos: usize, value: &str) -> Result<Output> {
        if text.is_empty() {
            return Err(CliError::invalid("--text NAME must not be empty"));
        }
        let doc = find(self.node, id)?;
        let handle = doc.text(text)?;
        let len = handle.len()?;
        if pos > len {
            return Err(CliError::invalid(format!(
                "--insert {pos} is past the end of text {text:?} (length {len})"
            )));
        }
        handle.insert(pos, value)?;
        self.node.flush()?;
        let inserted = value.chars().count();
        let now = handle.len()?;
        if self.json {
            let mut v = doc_summary(&doc)?;
            v["container"] = json!(text);
            v["inserted_chars"] = json!(inserted);
            v["length"] = json!(now);
            return Output::json(&v);
        }
        let mut o = Output::default();
        o.line(format!(
            "inserted {inserted} characters into {text} at {pos} (length now {now}) in {}",
            fmt::short(&doc.id())
        ));
        Ok(o)
    }

    fn doc_get(&self, id: &str, path: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let value = doc.get_json(&parse_path(path)?)?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "path": path,
                "value": value.as_deref().map(fmt::json_value),
            }));
        }
        let mut o = Output::default();
        match value {
            Some(v) => o.line(fmt::pretty(&v, 0)),
            None => o.note(format!("nothing at {path}")),
        }
        Ok(o)
    }

    fn doc_set(&self, id: &str, path: &str, value: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let path_ = parse_path(path)?;
        doc.set_json(&path_, value)?;
        self.node.flush()?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "path": path,
                "bytes": value.len(),
                "op_count": doc.op_count()?,
            }));
        }
        let mut o = Output::default();
        o.line(format!(
            "set {path} ({} bytes of JSON) in {}",
            value.len(),
            fmt::short(&doc.id())
        ));
        Ok(o)
    }

    fn doc_export(&self, id: &str, out: &Path) -> Result<Output> {
        let doc = find(self.node, id)?;
        let bytes = doc.export_snapshot()?;
        write_private(out, &bytes)
            .map_err(|e| CliError::msg(format!("writing {}: {e}", out.display())))?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "file": out.display().to_string(),
                "bytes": bytes.len(),
            }));
        }
        let mut o = Output::default();
        o.line(format!(
            "wrote {} bytes (document {}) to {}",
            bytes.len(),
            doc.id(),
            out.display()
        ));
        Ok(o)
    }

    fn doc_import(&self, file: &Path) -> Result<Output> {
        let bytes = std::fs::read(file)
            .map_err(|e| CliError::msg(format!("reading {}: {e}", file.display())))?;
        let doc = self.node.import_snapshot(&bytes)?;
        self.node.flush()?;
        if self.json {
            let mut v = doc_summary(&doc)?;
            v["content"] = fmt::json_value(&doc.to_json()?);
            return Output::json(&v);
        }
        let mut o = Output::default();
        o.line(format!("{}", doc.id()));
        Ok(o)
    }

    fn doc_attach(&self, id: &str, file: &Path, media_type: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let input = std::fs::File::open(file)
            .map_err(|e| CliError::msg(format!("reading {}: {e}", file.display())))?;
        let size = input
            .metadata()
            .map_err(|e| CliError::msg(format!("reading {}: {e}", file.display())))?
            .len();
        let reference =
            doc.add_attachment_from(std::io::BufReader::new(input), size, media_type)?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "reference": reference,
                "bytes": size,
            }));
        }
        let mut o = Output::default();
        o.line(reference);
        Ok(o)
    }

    async fn doc_attachment(
        &self,
        reference: &str,
        out: &Path,
        doc: Option<&str>,
    ) -> Result<Output> {
        let held = self.node.read_attachment(reference);
        let bytes = match (held, doc) {
            (Ok(bytes), _) => bytes,
            (Err(e), Some(id)) if e.kind() == fieldsync::ErrorKind::NotFound => {
                let doc = find(self.node, id)?;
                let fetch = self.node.fetch_attachment(doc.id(), reference).await?;
                if !fetch.complete {
                    return Err(CliError::msg(format!(
                        "the attachment could not be fetched: refused by {} peer(s), failed: {}",
                        fetch.refused_by.len(),
                        if fetch.failed.is_empty() {
                            "none".to_string()
                        } else {
                            fetch
                                .failed
                                .iter()
                                .map(|(p, e)| format!("{p}: {e}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        }
                    )));
                }
                self.node.read_attachment(reference)?
            }
            (Err(e), _) => return Err(e.into()),
        };
        write_private(out, &bytes)
            .map_err(|e| CliError::msg(format!("writing {}: {e}", out.display())))?;
        if self.json {
            return Output::json(
                &json!({ "file": out.display().to_string(), "bytes": bytes.len() }),
            );
        }
        let mut o = Output::default();
        o.line(format!("wrote {} bytes to {}", bytes.len(), out.display()));
        Ok(o)
    }

    fn collect_attachments(&self) -> Result<Output> {
        let s = self.node.collect_attachments()?;
        if self.json {
            return Output::json(&json!({
                "unreferenced": s.unreferenced,
                "evicted": s.evicted,
                "freed_bytes": s.freed_bytes,
            }));
        }
        let mut o = Output::default();
        o.line(format!(
            "deleted {} unreferenced and evicted {} fetched attachment(s): {} bytes freed",
            s.unreferenced, s.evicted, s.freed_bytes
        ));
        Ok(o)
    }

    fn doc_snapshot(&self, id: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let seq = doc.publish_snapshot()?;
        self.node.flush()?;
        let covered = doc.op_count()?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "snapshot": seq,
                "covers_ops": covered,
            }));
        }
        let mut o = Output::default();
        o.line(match seq {
            Some(seq) => format!(
                "published snapshot {seq} of document {} (covers {covered} operations)",
                doc.id()
            ),
            None => format!(
                "no snapshot of document {}: nothing to cover yet, or an operation waits for \
                 its key",
                doc.id()
            ),
        });
        Ok(o)
    }

    fn doc_compact(&self, id: &str, keep_days: Option<u32>) -> Result<Output> {
        let doc = find(self.node, id)?;
        let retention = match keep_days {
            Some(days) => fieldsync::Retention::KeepDays(days),
            None => fieldsync::Retention::KeepSinceSnapshot,
        };
        let dir = &self.node.config().data_dir;
        let before = files_bytes(dir);
        let pruned = doc.compact(retention)?;
        self.node.reclaim_space()?;
        let after = files_bytes(dir);
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "pruned": pruned,
                "data_bytes_before": before,
                "data_bytes_after": after,
            }));
        }
        let mut o = Output::default();
        o.line(format!(
            "pruned {pruned} operations of document {}; data directory {} -> {} bytes",
            doc.id(),
            before,
            after
        ));
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

    fn member(&self, command: &MemberCommand) -> Result<Output> {
        let device_of = |d: &str| -> Result<AuthorId> {
            d.parse()
                .map_err(|e| CliError::msg(format!("invalid node id {d:?}: {e}")))
        };
        let role_of = |r: &str| -> Result<fieldsync::Role> { r.parse().map_err(CliError::invalid) };
        let (doc, done) = match command {
            MemberCommand::List { id } => (find(self.node, id)?, None),
            MemberCommand::Add {
                id,
                device,
                key_bundle,
                role,
            } => {
                let doc = find(self.node, id)?;
                let role = role_of(role)?;
                let member = match (device, key_bundle) {
                    (_, Some(file)) => {
                        let bundle = std::fs::read(file).map_err(|e| {
                            CliError::invalid(format!("cannot read {}: {e}", file.display()))
                        })?;
                        doc.add_member(&bundle)?
                    }
                    (Some(device), None) => {
                        let member = device_of(device)?;
                        doc.add_announced_member(member)?;
                        member
                    }
                    (None, None) => {
                        return Err(CliError::invalid("name the device or --key-bundle FILE"))
                    }
                };
                if role != fieldsync::Role::Writer {
                    doc.set_role(member, role)?;
                }
                (
                    doc,
                    Some(format!("added {} as {role}", fmt::short(&member))),
                )
            }
            MemberCommand::Relay { id, device } => {
                let doc = find(self.node, id)?;
                let member = device_of(device)?;
                doc.add_relay(member)?;
                (doc, Some(format!("{} is a relay", fmt::short(&member))))
            }
            MemberCommand::Role { id, device, role } => {
                let doc = find(self.node, id)?;
                let member = device_of(device)?;
                let role = role_of(role)?;
                doc.set_role(member, role)?;
                (doc, Some(format!("{} is now {role}", fmt::short(&member))))
            }
            MemberCommand::Remove { id, device } => {
                let doc = find(self.node, id)?;
                let member = device_of(device)?;
                doc.remove_member(member)?;
                (doc, Some(format!("removed {}", fmt::short(&member))))
            }
        };
        if done.is_some() {
            self.node.flush()?;
        }
        let roles = doc.roles()?;
        if self.json {
            return Output::json(&json!({
                "document": doc.id().to_string(),
                "members": roles
                    .iter()
                    .map(|(m, r)| json!({ "member": m.to_string(), "role": r.to_string() }))
                    .collect::<Vec<_>>(),
            }));
        }
        let mut o = Output::default();
        if let Some(done) = done {
            o.note(done);
        }
        for (member, role) in &roles {
            let me = if *member == self.node.author() {
                " (this device)"
            } else {
                ""
            };
            o.line(format!("{member} {role}{me}"));
        }
        Ok(o)
    }

    fn doc_admit(&self, id: &str, device: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let member: AuthorId = device
            .parse()
            .map_err(|e| CliError::msg(format!("invalid node id {device:?}: {e}")))?;
        if doc.members()?.contains(&member) {
            return Err(CliError::msg(format!(
                "{} is already a member of document {}",
                fmt::short(&member),
                fmt::short(&doc.id())
            )));
        }
        doc.add_announced_member(member).map_err(|e| match e {
            fieldsync::DocumentError::InvalidArgument(m) if m.starts_with("no key bundle") => {
                CliError::msg(format!(
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

    fn revoke_invites(&self, id: &str) -> Result<Output> {
        let doc = find(self.node, id)?;
        let n = self
            .node
            .revoke_invites(doc.id())
            .map_err(fieldsync::Error::from)?;
        if self.json {
            return Output::json(&json!({"document": doc.id().to_string(), "revoked": n}));
        }
        let mut o = Output::default();
        o.line(format!(
            "revoked the invites of document {} ({n} live on this node)",
            fmt::short(&doc.id())
        ));
        Ok(o)
    }

    async fn invite(
        &self,
        id: &str,
        valid_for: Option<u64>,
        max_uses: Option<u32>,
    ) -> Result<Output> {
        let doc = find(self.node, id)?;
        let mut options = fieldsync::InviteOptions::default();
        if let Some(secs) = valid_for {
            options.valid_for = std::time::Duration::from_secs(secs);
        }
        if let Some(n) = max_uses {
            options.max_uses = n;
        }
        let invite = doc.invite_with(options).await?;
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
        let (addrs, relay): (Vec<String>, Option<String>) = match node.network_info().await {
            Ok(info) => (
                info.addrs.iter().map(|a| a.to_string()).collect(),
                info.relay,
            ),
            Err(_) => (Vec::new(), None),
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
            v["peers"] = st
                .peers
                .iter()
                .map(|p| {
                    json!({
                        "peer": p.peer.to_string(),
                        "connected": p.connected,
                        "last_seen_ms": p.last_seen_ms,
                        "path": p.path.map(|path| json!({
                            "relayed": path.relayed,
                            "rtt_ms": path.rtt_ms,
                        })),
                    })
                })
                .collect();
            v["rejected_ops"] = st.rejected_ops.into();
            v["members"] = doc.members()?.iter().map(|m| m.to_string()).collect();
            v["join"] = match &st.join {
                Some(j) => json!({
                    "inviter": j.inviter.to_string(),
                    "requested_at_ms": j.requested_at_ms,
                    "delivered": j.delivered,
                    "refused": j.refused.map(|r| r.to_string()),
                    "state": fmt::join_state(j),
                }),
                None => serde_json::Value::Null,
            };
            rows.push((doc, st, v));
        }
        if self.json {
            return Output::json(&json!({
                "data_dir": node.config().data_dir.display().to_string(),
                "node": node.author().to_string(),
                "online": online,
                "addrs": addrs,
                "relay": relay,
                "connected_peers": peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "documents": rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            }));
        }
        let mut o = Output::default();
        o.line(format!("node:      {}", node.author()));
        o.line(format!("data dir:  {}", node.config().data_dir.display()));
        if online {
            o.line(format!("network:   online on {}", addrs.join(", ")));
            if let Some(relay) = &relay {
                o.line(format!("relay:     {relay}"));
            }
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
            let peers: Vec<String> = st
                .peers
                .iter()
                .map(|p| {
                    let path = match p.path {
                        Some(path) if path.relayed => {
                            format!(", via the relay, rtt {} ms", path.rtt_ms)
                        }
                        Some(path) => format!(", direct, rtt {} ms", path.rtt_ms),
                        None => String::new(),
                    };
                    match (p.connected, p.last_seen_ms) {
                        (true, _) => format!("{} (connected{path})", fmt::short(&p.peer)),
                        (false, Some(ms)) => format!(
                            "{} (last seen {}{path})",
                            fmt::short(&p.peer),
                            fmt::since(ms)
                        ),
                        (false, None) => fmt::short(&p.peer),
                    }
                })
                .collect();
            o.line(format!(
                "    peers:    {}",
                if peers.is_empty() {
                    "none yet".to_string()
                } else {
                    peers.join(", ")
                }
            ));
            if let Some(j) = &st.join {
                o.line(format!("    join:     {}", fmt::join_state(j)));
            }
            if st.rejected_ops > 0 {
                o.line(format!("    rejected: {} ops from peers", st.rejected_ops));
            }
        }
        Ok(o)
    }
}

/// Bytes of the files directly in `dir` (the database, its WAL, keys).
fn files_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
