//! `fieldsync`: run a FieldSync node from the command line, serve it over GraphQL, or watch
//! the two-node sync demo.
//!
//! ```text
//! fieldsync demo                                  two nodes on 127.0.0.1 edit offline and converge
//! fieldsync --data DIR init                       create (or open) a node in DIR
//! fieldsync doc create | list | show ID | delete ID
//! fieldsync doc edit ID --text NAME --insert POS STR
//! fieldsync doc admit ID DEVICE                   let a device that joined read an encrypted doc
//! fieldsync invite ID                             an invite string for a document
//! fieldsync join INVITE                           join a document from an invite
//! fieldsync node [--bind IP] [--port P] [--peer NODE@ADDR]... [--no-mdns] [--admit]
//!                                                 a long-lived peer: network on until Ctrl-C
//! fieldsync serve --graphql 127.0.0.1:8080        the same node plus a GraphQL API
//! fieldsync status                                node id, peers, versions, pending ops
//! ```
//!
//! Every command takes `--json` for machine-readable output on stdout (`node` prints one JSON
//! event per line). Errors go to stderr and exit with status 1; bad arguments exit with
//! status 2 and name the problem. While `node` or `serve` runs on a data directory, the other
//! commands on it are forwarded to the running node (see [`control`]).

mod bundles;
mod control;
#[cfg(unix)]
mod control_server;
mod demo;
mod dispatch;
mod error;
mod fmt;
mod graphql;
mod node_cmd;
mod progress;
mod relay;
mod request;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use error::{CliError, Result};
use node_cmd::{GraphqlArgs, NetArgs};
use request::NodeCommand;

/// FieldSync: offline-first peer-to-peer sync of end-to-end encrypted CRDT documents.
///
/// Edits are stored as signed operations in a local SQLite database and sync peer to peer
/// over QUIC. Start with `fieldsync demo` to watch two nodes edit offline and converge.
///
/// Two devices:
///   A: fieldsync init; fieldsync doc create; fieldsync node             (keep it running)
///   A: fieldsync invite DOC                                             (prints fs1:...)
///   B: fieldsync init; fieldsync join fs1:...; fieldsync node
///   B: fieldsync doc edit DOC --text notes --insert 0 "hello"           (syncs to A)
///
/// While `node` (or `serve`) runs on a data directory, the other commands on it are
/// forwarded to the running node.
///
/// Exit status: 0 success, 1 other failure, 2 usage, 3 not found, 4 invalid value,
/// 5 invalid invite, 6 not allowed, 7 network, 8 storage, 9 wrong store key, 10 data directory
/// busy, 11 key material / decryption, 70 internal error. Errors are one line on stderr
/// (--verbose adds details).
#[derive(Parser, Debug)]
#[command(
    name = "fieldsync",
    version,
    propagate_version = true,
    verbatim_doc_comment
)]
struct Cli {
    /// Node data directory [default: $XDG_DATA_HOME/fieldsync, else ~/.local/share/fieldsync]
    #[arg(long, global = true, value_name = "DIR", env = "FIELDSYNC_DATA")]
    data: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Print errors in full (several lines where the cause has them).
    #[arg(long, short, global = true)]
    verbose: bool,

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
    #[command(flatten)]
    OnData(NodeCommand),
    /// Run a long-lived peer: network on, syncing every document, until Ctrl-C or SIGTERM.
    ///
    /// Binds all interfaces and finds peers on the LAN by mDNS unless told otherwise
    /// (`--bind 127.0.0.1 --no-mdns` keeps it on this machine). Prints peers connecting,
    /// catch-up progress and document changes (one JSON object per line with --json).
    /// Other `fieldsync` commands on the same data directory are forwarded to it, so
    /// `fieldsync doc edit` goes out to peers at once.
    Node {
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        graphql: GraphqlArgs,
    },
    /// Run the node (like `fieldsync node`) and serve its GraphQL API on ADDR
    ///
    /// Queries: node, documents, document(id), members(id), syncStatus(id). Mutations:
    /// createDocument, deleteDocument, editText, editMap, editList, invite, join, admitMember.
    /// Subscription: documentUpdated(id) over WebSocket at /graphql/ws. Example:
    ///
    ///   curl -s http://127.0.0.1:8080/graphql -H 'content-type: application/json' \
    ///     -H "authorization: Bearer $(cat DATA/graphql.token)" \
    ///     -d '{"query":"{ documents { id content } }"}'
    ///
    /// Every request needs the access token (`Authorization: Bearer TOKEN`): FIELDSYNC_TOKEN,
    /// else --token-file, else DATA/graphql.token, generated and printed once on first serve.
    /// Web pages other than the console at / are refused unless --allow-origin names them.
    #[command(verbatim_doc_comment)]
    /// Run a relay server for your organisation's devices on other networks or behind NATs
    ///
    /// An iroh relay: devices that cannot reach each other directly exchange their (end-to-end
    /// encrypted) QUIC packets through it, and move to a direct path when they can. Devices
    /// use it with `fieldsync node --relay URL` (or `relays` in the SDK's network options);
    /// their invites carry the URL so that a joiner on another network finds the inviter.
    /// A token is required (FIELDSYNC_RELAY_TOKEN, --token-file, else DATA/relay.token,
    /// generated on the first run) unless --open. Serve it over HTTPS (--https with
    /// --tls-cert/--tls-key) anywhere but a test network.
    Relay(relay::RelayArgs),
    Serve {
        /// Address for the GraphQL API and the console, e.g. 127.0.0.1:8080 (port 0 picks a
        /// free one).
        #[arg(long, value_name = "ADDR")]
        graphql: SocketAddr,
        #[command(flatten)]
        access: node_cmd::AccessArgs,
        #[command(flatten)]
        net: NetArgs,
    },
}

fn main() -> ExitCode {
    // Output piped into `head` ends quietly, as for every Unix tool, instead of a panic on
    // the next write ("Broken pipe").
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldsync: error: {}", one_line(&e.message, verbose));
            ExitCode::from(e.exit as u8)
        }
    }
}

/// The message on one line (the first one, joined with the rest unless verbose).
fn one_line(message: &str, verbose: bool) -> String {
    if verbose {
        return message.to_string();
    }
    let line = message.lines().map(str::trim).filter(|l| !l.is_empty());
    line.collect::<Vec<_>>().join("; ")
}

fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    if let Command::Demo { timeout } = cli.command {
        return demo::run(std::time::Duration::from_secs(timeout));
    }
    let data = match cli.data {
        Some(d) => d,
        None => default_data_dir()?,
    };
    match cli.command {
        Command::Demo { .. } => unreachable!("handled above"),
        Command::OnData(cmd) => dispatch::run(&data, json, cmd),
        Command::Node { net, graphql } => node_cmd::run(&data, json, net, graphql),
        Command::Relay(args) => relay::run(&data, json, args),
        Command::Serve {
            graphql,
            access,
            net,
        } => node_cmd::run(
            &data,
            json,
            net,
            GraphqlArgs {
                graphql: Some(graphql),
                access,
            },
        ),
    }
}

/// `$XDG_DATA_HOME/fieldsync`, else `~/.local/share/fieldsync`.
fn default_data_dir() -> Result<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = non_empty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(x).join("fieldsync"));
    }
    if let Some(h) = non_empty("HOME") {
        return Ok(PathBuf::from(h).join(".local/share/fieldsync"));
    }
    Err(CliError::msg(
        "no data directory: set --data DIR (or XDG_DATA_HOME / HOME)",
    ))
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
            Command::OnData(NodeCommand::Doc(request::DocCommand::Edit {
                id,
                text,
                insert,
                value,
                ..
            })) => {
                assert_eq!((id.as_str(), text.as_str(), insert), ("ab12", "notes", 3));
                assert_eq!(value.as_deref(), Some("hello"));
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
