//! `fieldsync bundle ...`: sync with no network, by files or QR-sized chunk files.

use std::path::Path;

use fieldsync::{BundleChunks, Node};
use serde_json::json;

use crate::dispatch::{find, write_private};
use crate::error::{CliError, Result};
use crate::request::{BundleCommand, Output};

/// Largest request or key-bundle file read.
const MAX_SMALL_FILE: u64 = 64 << 20;

fn read_file(path: &Path, max: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| CliError::invalid(format!("cannot read {}: {e}", path.display())))?
        .len();
    if len > max {
        return Err(CliError::invalid(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    std::fs::read(path)
        .map_err(|e| CliError::invalid(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_private(path, bytes)
        .map_err(|e| CliError::msg(format!("writing {}: {e}", path.display())))
}

/// Runs one bundle command.
pub async fn run(node: &Node, json: bool, cmd: &BundleCommand) -> Result<Output> {
    let mut o = Output::default();
    match cmd {
        BundleCommand::Request { id, out } => {
            let doc = find(node, id)?;
            let request = node.bundle_request(doc.id()).await?;
            write(out, &request)?;
            if json {
                return Output::json(
                    &json!({"document": doc.id().to_string(), "file": out.display().to_string(), "bytes": request.len()}),
                );
            }
            o.line(format!(
                "wrote the request ({} bytes) to {}",
                request.len(),
                out.display()
            ));
        }
        BundleCommand::Export {
            id,
            out,
            request,
            chunks,
            chunk_size,
        } => {
            let doc = find(node, id)?;
            let request = match request {
                Some(r) => Some(read_file(r, MAX_SMALL_FILE)?),
                None => None,
            };
            let bundle = node.export_bundle(doc.id(), request.as_deref()).await?;
            let files = if *chunks {
                let parts = bundle.chunks(*chunk_size).map_err(fieldsync::Error::from)?;
                std::fs::create_dir_all(out)
                    .map_err(|e| CliError::msg(format!("creating {}: {e}", out.display())))?;
                let width = parts.len().to_string().len();
                for (i, part) in parts.iter().enumerate() {
                    write(&out.join(format!("chunk-{i:0width$}.fsq")), part)?;
                }
                parts.len()
            } else {
                write(out, &bundle.bytes)?;
                1
            };
            if json {
                return Output::json(&json!({
                    "document": doc.id().to_string(),
                    "operations": bundle.operations,
                    "bytes": bundle.bytes.len(),
                    "files": files,
                    "out": out.display().to_string(),
                }));
            }
            o.line(format!(
                "wrote {} operations ({} bytes) to {}{}",
                bundle.operations,
                bundle.bytes.len(),
                out.display(),
                if *chunks {
                    format!(" as {files} chunks")
                } else {
                    String::new()
                }
            ));
        }
        BundleCommand::Import { path } => {
            let bytes = if path.is_dir() {
                assemble(path)?
            } else {
                read_file(path, fieldsync_bundle_max())?
            };
            let imported = node.import_bundle(&bytes).await?;
            node.flush()?;
            if json {
                return Output::json(&json!({
                    "document": imported.document.to_string(),
                    "exporter": imported.exporter.to_string(),
                    "operations": imported.operations,
                }));
            }
            o.line(format!(
                "imported {} operations of document {} from {}",
                imported.operations,
                imported.document,
                crate::fmt::short(&imported.exporter)
            ));
        }
        BundleCommand::Key { out } => {
            let bundle = node.key_bundle()?;
            write(out, &bundle)?;
            if json {
                return Output::json(
                    &json!({"node": node.author().to_string(), "file": out.display().to_string()}),
                );
            }
            o.line(format!(
                "wrote this device's key bundle to {}",
                out.display()
            ));
        }
    }
    Ok(o)
}

fn fieldsync_bundle_max() -> u64 {
    256 << 20
}

/// Reads every file of `dir` as a chunk and returns the bundle they make.
fn assemble(dir: &Path) -> Result<Vec<u8>> {
    let mut assembler = BundleChunks::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CliError::invalid(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut whole = None;
    for path in entries {
        let chunk = read_file(&path, 1 << 20)?;
        if let Some(done) = assembler
            .add(&chunk)
            .map_err(|e| CliError::from(fieldsync::Error::from(e)))?
        {
            whole = Some(done);
        }
    }
    let (held, total) = assembler.progress();
    whole.ok_or_else(|| {
        CliError::invalid(format!(
            "{} holds {held} of the bundle's {total} chunks",
            dir.display()
        ))
    })
}
