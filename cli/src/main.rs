//! `fieldsync`: a two-node sync demo and a small command line over the FieldSync core.
//!
//! ```text
//! fieldsync demo                                  two nodes on 127.0.0.1 edit offline and converge
//! fieldsync --data DIR init                       create (or open) a node in DIR
//! fieldsync doc create | list | show ID           documents of the node
//! fieldsync doc edit ID --text NAME --insert POS STR
//! fieldsync invite ID                             an invite string for a document
//! fieldsync status                                node id, documents, versions, pending ops
//! ```
//!
//! Every command takes `--json` for machine-readable output on stdout. Errors go to stderr
//! and exit with status 1; bad arguments exit with status 2 and name the problem.

mod commands;
mod demo;
mod fmt;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// FieldSync: offline-first peer-to-peer sync of CRDT documents.
///
/// Edits are stored as signed operations in a local SQLite database and sync peer to peer
/// over QUIC. Start with `fieldsync demo` to watch two nodes edit offline and converge.
#[derive(Parser, Debug)]
#[command(name = "fieldsync", version, propagate_version = true)]
struct Cli {
    /// Node data directory [default: $XDG_DATA_HOME/fieldsync, else ~/.local/share/fieldsync]
    #[arg(long, global = true, value_name = "DIR", env = "FIELDSYNC_DATA")]
    data: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two embedded nodes (Alice and Bob) on 127.0.0.1 edit one document offline and converge.
    ///
    /// Runs in a temporary directory; leaves nothing behind. Exits non-zero if the nodes do not
    /// converge within --timeout seconds at any step.
    Demo {
        /// Seconds to wait for convergence at each step.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Create the node in the data directory (device key and database); idempotent.
    Init,
    /// Create, list, show and edit documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Print an invite string for a document (for `join` on another device).
    Invite {
        /// Document id (full hex or a unique prefix).
        id: String,
    },
    /// Node id, documents, version vectors and operations not yet delivered to a peer.
    Status,
}

#[derive(Subcommand, Debug)]
enum DocCommand {
    /// Create an empty document and print its id.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), commands::CliError> {
    let json = cli.json;
    match cli.command {
        Command::Demo { timeout } => demo::run(std::time::Duration::from_secs(timeout)),
        other => {
            let data = match cli.data {
                Some(d) => d,
                None => commands::default_data_dir()?,
            };
            let ctx = commands::Ctx { data, json };
            match other {
                Command::Demo { .. } => unreachable!("handled above"),
                Command::Init => ctx.init(),
                Command::Doc(DocCommand::Create) => ctx.doc_create(),
                Command::Doc(DocCommand::List) => ctx.doc_list(),
                Command::Doc(DocCommand::Show { id }) => ctx.doc_show(&id),
                Command::Doc(DocCommand::Edit {
                    id,
                    text,
                    insert,
                    value,
                }) => ctx.doc_edit(&id, &text, insert, &value),
                Command::Invite { id } => ctx.invite(&id),
                Command::Status => ctx.status(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn edit_takes_text_position_and_string() {
        let cli = Cli::try_parse_from([
            "fieldsync",
            "--data",
            "/tmp/x",
            "doc",
            "edit",
            "ab12",
            "--text",
            "notes",
            "--insert",
            "3",
            "hello",
        ])
        .unwrap();
        match cli.command {
            Command::Doc(DocCommand::Edit {
                id,
                text,
                insert,
                value,
            }) => {
                assert_eq!((id.as_str(), text.as_str(), insert), ("ab12", "notes", 3));
                assert_eq!(value, "hello");
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn bad_position_is_rejected_by_name() {
        let err = Cli::try_parse_from([
            "fieldsync",
            "doc",
            "edit",
            "ab12",
            "--text",
            "n",
            "--insert",
            "-1",
            "x",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--insert"), "{err}");
    }
}
