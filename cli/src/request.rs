//! What a user asks a node to do and what comes back: the clap subcommands [`NodeCommand`]
//! and [`DocCommand`] (with their argument checks) and the [`Output`] a command produces.
//!
//! Both are serialisable because the same request and response also travel over the control
//! socket to a running `fieldsync node` (see [`crate::control`]).

use std::fmt::Write as _;

use clap::Subcommand;
use fieldsync::AuthorId;
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// Largest value read from a file or standard input (the control socket carries it whole).
pub const MAX_VALUE: usize = 16 * 1024 * 1024;

/// A position: a non-negative number (a clearer message than clap's for `-1`).
fn parse_position(s: &str) -> std::result::Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| {
        format!("{s:?} is not a position: use 0 for the start, up to the text's length")
    })
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
    /// Sync with no network: a document's operations as one signed file (or QR-sized
    /// chunks) carried by hand, on a USB stick or by relay devices that cannot read it.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Print an invite string for a document (for `join` on another device).
    ///
    /// While `fieldsync node` runs, the invite carries this node's addresses; otherwise the
    /// joining device must reach this one some other way (mDNS on the LAN, or `--peer`).
    Invite {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// How long the invite admits devices: a number with s, m, h or d (default 7d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        valid_for: Option<u64>,
        /// How many devices the invite admits (default 1).
        #[arg(long, value_name = "N")]
        max_uses: Option<u32>,
        /// Revoke every invite of the document issued so far instead (admins): devices that
        /// hold one are refused and told so.
        #[arg(long, conflicts_with_all = ["valid_for", "max_uses"])]
        revoke: bool,
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
        #[arg(long, value_name = "POS", value_parser = parse_position, allow_negative_numbers = true)]
        insert: usize,
        /// The text to insert; `-` reads it from standard input.
        #[arg(value_name = "STR", required_unless_present = "file")]
        value: Option<String>,
        /// Read the text to insert from FILE (large values: a command line holds at most
        /// about 128 KiB per argument).
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        file: Option<std::path::PathBuf>,
    },
    /// Print the value at PATH of a document as JSON: a root container's name, then map keys
    /// and list indices separated by `/` (a segment of digits is a list index).
    ///
    /// Example: fieldsync doc get 3f2a households/0/name
    Get {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// Where: `households/0/name`.
        path: String,
    },
    /// Write a JSON value at PATH as nested maps and lists, in one operation (under a map
    /// key it replaces the entry; at a list index it replaces the item, or appends at the
    /// list's length; at a root name an object fills the root map, an array the root list).
    ///
    /// Example: fieldsync doc set 3f2a households/0 '{"name":"Nkosi","size":4}'
    Set {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// Where: `households/0`.
        path: String,
        /// The JSON value; `-` reads it from standard input.
        #[arg(value_name = "JSON", required_unless_present = "file")]
        value: Option<String>,
        /// Read the JSON value from FILE.
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        file: Option<std::path::PathBuf>,
    },
    /// Write a document's Loro snapshot to FILE (a backup, or input for a plain Loro
    /// program). The file holds the content in the clear: it is created 0600; keep it safe.
    Export {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Create a new document from a Loro snapshot FILE: its content becomes this device's
    /// own edit (signed by this device, which is its only member).
    Import {
        /// The snapshot file (`fieldsync doc export`, or a plain Loro program's).
        file: std::path::PathBuf,
    },
    /// Add FILE as an attachment of a document (end-to-end encrypted, stored beside the
    /// database) and print its reference: put it in the document with `doc set`, e.g.
    /// `fieldsync doc set ID photos/0 '"fsatt1:..."'`.
    Attach {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The file to attach (read a chunk at a time).
        file: std::path::PathBuf,
        /// Its media type.
        #[arg(
            long = "type",
            value_name = "MEDIA_TYPE",
            default_value = "application/octet-stream"
        )]
        media_type: String,
    },
    /// Write the content of an attachment (its reference, `fsatt1:...`) to FILE (0600).
    /// With --doc and a running node, content not on this device is fetched from the
    /// document's peers first (checked chunk by chunk, resumed if cut).
    Attachment {
        /// The attachment's reference.
        reference: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// The document the reference was read from: fetch from its peers if needed.
        #[arg(long = "doc", value_name = "ID")]
        doc: Option<String>,
    },
    /// Delete attachments no document references any more (older than 10 minutes) and
    /// evict fetched ones past the storage budget (1 GB), oldest first. Attachments added
    /// on this device are never evicted.
    CollectAttachments,
    /// Publish a snapshot of a document: its state, signed and encrypted like an edit.
    /// Devices that join later, or are far behind, fetch it and the operations after it
    /// instead of the whole history (a node also publishes one every 10,000 operations).
    Snapshot {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Delete the operations of a document that its latest snapshot covers (by default all
    /// of them; with --keep-days, those received more than DAYS days ago), then give the
    /// freed space back to the file system. Content and sync are unaffected; history
    /// views before the snapshot lose those versions.
    Compact {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// Keep the operations received in the last DAYS days.
        #[arg(long, value_name = "DAYS")]
        keep_days: Option<u32>,
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
    /// Members and roles: list them, add a device with a role, make a device a relay,
    /// change a role, remove a member (admins only, except `list`).
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `fieldsync bundle ...`: sync by files.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum BundleCommand {
    /// Write what this device holds of a document to FILE, for the other device's
    /// `bundle export --request FILE` (only what is missing here travels back).
    Request {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Write a bundle of a document: what the device whose request is --request FILE
    /// lacks, or everything this device holds. Signed by this device; the content stays
    /// encrypted to the document's members.
    Export {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The bundle file to write, or with --chunks the directory for its chunk files.
        #[arg(long, value_name = "PATH")]
        out: std::path::PathBuf,
        /// The other device's `bundle request` file.
        #[arg(long, value_name = "FILE")]
        request: Option<std::path::PathBuf>,
        /// Write chunks of at most --chunk-size bytes (one QR code each) into the
        /// directory --out instead of one file.
        #[arg(long)]
        chunks: bool,
        /// Bytes per chunk with --chunks.
        #[arg(long, default_value_t = 2048, value_name = "BYTES")]
        chunk_size: usize,
    },
    /// Import a bundle file, or a directory of its chunk files (any order, duplicates
    /// allowed). A changed byte refuses the whole bundle; every operation is checked like
    /// one received over the network.
    Import {
        /// The bundle file or the directory of chunks.
        path: std::path::PathBuf,
    },
    /// Write this device's key bundle to FILE, for an admin to add it to a document with
    /// `doc member add ID --key-bundle FILE` when the two devices have no network.
    Key {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
}

/// `fieldsync doc member ...`: roles are admin (adds, removes, changes roles), writer,
/// reader (its edits are refused) and relay (stores and forwards, reads nothing).
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum MemberCommand {
    /// List the document's members and their roles.
    List {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Add a device that announced its key bundle here (it ran `fieldsync join`), or whose
    /// key bundle file is given (`bundle key`), with a role (default writer).
    Add {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The node id of the device (64 hex characters).
        #[arg(value_parser = parse_author, required_unless_present = "key_bundle")]
        device: Option<String>,
        /// The device's key bundle file (`fieldsync bundle key` on that device).
        #[arg(long, value_name = "FILE", conflicts_with = "device")]
        key_bundle: Option<std::path::PathBuf>,
        /// admin, writer or reader.
        #[arg(long, default_value = "writer", value_parser = parse_reading_role)]
        role: String,
    },
    /// Make a device a relay: it syncs the document's ciphertext and reads nothing.
    Relay {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The node id of the device (64 hex characters).
        #[arg(value_parser = parse_author)]
        device: String,
    },
    /// Change a member's role among admin, writer and reader.
    Role {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The member's node id (64 hex characters).
        #[arg(value_parser = parse_author)]
        device: String,
        /// admin, writer or reader.
        #[arg(value_parser = parse_reading_role)]
        role: String,
    },
    /// Remove a member: its later edits are refused everywhere and the key rotates.
    Remove {
        /// Document id (full hex or a unique prefix).
        id: String,
        /// The member's node id (64 hex characters).
        #[arg(value_parser = parse_author)]
        device: String,
    },
}

/// Checks a role that holds the document's key (admin, writer, reader).
fn parse_reading_role(s: &str) -> std::result::Result<String, String> {
    match s.trim().parse::<fieldsync::Role>()? {
        fieldsync::Role::Relay => Err("a relay is added with `fieldsync doc member relay`".into()),
        r => Ok(r.to_string()),
    }
}

/// Checks an invite string at argument-parsing time.
fn parse_invite(s: &str) -> std::result::Result<String, String> {
    fieldsync::Invite::parse(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| match e {
            fieldsync::InviteError::Malformed(_) => {
                "the invite is damaged or truncated: copy the whole invite again".to_string()
            }
            other => other.to_string(),
        })
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
    /// Adds a line to stdout.
    pub fn line(&mut self, s: impl std::fmt::Display) {
        let _ = writeln!(self.stdout, "{s}");
    }

    /// Adds a line to stderr.
    pub fn note(&mut self, s: impl std::fmt::Display) {
        let _ = writeln!(self.stderr, "{s}");
    }

    /// Output whose stdout is `v` as pretty-printed JSON.
    pub fn json(v: &serde_json::Value) -> Result<Output> {
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

impl NodeCommand {
    /// The command with its file paths made absolute, before it is forwarded to a running
    /// node (whose working directory is not the caller's).
    /// Reads a value given as `-` (standard input) or `--file FILE` into the command, so the
    /// command carries it to a running node. At most [`MAX_VALUE`] bytes.
    pub fn with_inputs(mut self) -> Result<Self> {
        if let NodeCommand::Doc(
            DocCommand::Edit { value, file, .. } | DocCommand::Set { value, file, .. },
        ) = &mut self
        {
            let read = |r: &mut dyn std::io::Read, from: &str| -> Result<String> {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(r, MAX_VALUE as u64 + 1),
                    &mut buf,
                )?;
                if buf.len() > MAX_VALUE {
                    return Err(CliError::invalid(format!(
                        "the value from {from} is larger than {MAX_VALUE} bytes"
                    )));
                }
                String::from_utf8(buf)
                    .map_err(|_| CliError::invalid(format!("the value from {from} is not UTF-8")))
            };
            if let Some(path) = file.take() {
                let mut f = std::fs::File::open(&path).map_err(|e| {
                    CliError::invalid(format!("cannot read {}: {e}", path.display()))
                })?;
                *value = Some(read(&mut f, &path.display().to_string())?);
            } else if value.as_deref() == Some("-") {
                *value = Some(read(&mut std::io::stdin().lock(), "standard input")?);
            }
        }
        Ok(self)
    }

    pub fn with_absolute_paths(mut self) -> std::io::Result<Self> {
        match &mut self {
            NodeCommand::Doc(DocCommand::Export { out: path, .. })
            | NodeCommand::Doc(DocCommand::Import { file: path })
            | NodeCommand::Doc(DocCommand::Attach { file: path, .. })
            | NodeCommand::Doc(DocCommand::Attachment { out: path, .. })
            | NodeCommand::Bundle(BundleCommand::Request { out: path, .. })
            | NodeCommand::Bundle(BundleCommand::Import { path })
            | NodeCommand::Bundle(BundleCommand::Key { out: path })
            | NodeCommand::Doc(DocCommand::Member(MemberCommand::Add {
                key_bundle: Some(path),
                ..
            })) => {
                *path = std::path::absolute(&*path)?;
            }
            NodeCommand::Bundle(BundleCommand::Export { out, request, .. }) => {
                *out = std::path::absolute(&*out)?;
                if let Some(r) = request {
                    *r = std::path::absolute(&*r)?;
                }
            }
            _ => {}
        }
        Ok(self)
    }
}

/// `90s`, `15m`, `12h`, `7d` as seconds.
fn parse_duration(s: &str) -> std::result::Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d, e.g. 7d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{s:?}: expected a number with s, m, h or d, e.g. 7d"
            ))
        }
    };
    n.checked_mul(scale)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}
