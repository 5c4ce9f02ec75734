//! Writes the seed corpora of the fuzz targets in `fuzz/` from real FieldSync data:
//! operations of plain and encrypted documents, group control messages, ciphertext
//! envelopes, invites, gossip messages, catch-up frames and direct messages.
//!
//! Usage: `fuzz_seeds CORPUS_DIR` (one sub-directory per fuzz target; `make fuzz-seeds`).
//! The structure-aware targets sign with a fixed author and write to a fixed document;
//! [`FUZZ_AUTHOR_SEED`] and [`FUZZ_DOCUMENT`] must match `fuzz/src/lib.rs`.

use std::path::{Path, PathBuf};

use fieldsync::internals::body::{seal, BodyScheme};
use fieldsync::internals::crypto::{DeviceKeys, DocumentGroup, GroupId};
use fieldsync::internals::direct::{encode_payload, Envelope, TOKEN_LEN};
use fieldsync::internals::membership::{CONTROL_GROUP_MESSAGE, CONTROL_KEY_BUNDLE};
use fieldsync::internals::net::ephemeral::{self, Ephemeral};
use fieldsync::internals::operation::LogKind;
use fieldsync::{
    AuthorId, DirectPayload, DocumentId, Invite, Node, NodeConfig, Value, VersionVector,
};
use p2panda_core::SigningKey;

/// Secret key bytes of the fuzzing author (see `fuzz/src/lib.rs`).
const FUZZ_AUTHOR_SEED: [u8; 32] = [7; 32];
/// The fuzzing document (see `fuzz/src/lib.rs`).
const FUZZ_DOCUMENT: [u8; 32] = [0x42; 32];

struct Corpus {
    dir: PathBuf,
}

impl Corpus {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }

    fn put_mode(&self, target: &str, name: &str, mode: u8, payload: &[u8]) {
        let mut bytes = vec![mode];
        bytes.extend_from_slice(payload);
        self.put(target, name, &bytes);
    }
}

/// A Loro update (inserting `text`) authored by the Loro peer of `key`.
fn loro_update(key: &SigningKey, text: &str) -> Vec<u8> {
    let doc = loro::LoroDoc::new();
    doc.set_peer_id(AuthorId::from(key.verifying_key()).loro_peer_id())
        .expect("peer id");
    doc.get_text("t").insert(0, text).expect("insert");
    doc.get_map("m").insert("k", 1).expect("map");
    doc.get_list("l").push("x").expect("list");
    doc.commit();
    doc.export(loro::ExportMode::all_updates()).expect("export")
}

fn with_tag(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(bytes);
    out
}

fn node_ops(dir: &Path, encrypt: bool) -> (Node, Vec<Vec<u8>>, DocumentId) {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = encrypt;
    let node = Node::open(cfg).expect("open node");
    let doc = node.create_document().expect("create");
    doc.text("t").unwrap().insert(0, "water point 3").unwrap();
    doc.map("m").unwrap().set("k", Value::Int(7)).unwrap();
    doc.list("l").unwrap().push(Value::from("pump")).unwrap();
    doc.text("t").unwrap().delete(0, 6).unwrap();
    let ops = node.operations(doc.id()).expect("operations");
    (node, ops, doc.id())
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: fuzz_seeds CORPUS_DIR");
    let c = Corpus { dir: dir.into() };
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_bytes(&FUZZ_AUTHOR_SEED);
    let fuzz_doc = DocumentId::from_slice(&FUZZ_DOCUMENT).expect("32 bytes");

    // ingest_wire: real operations of a plain and of an encrypted document.
    let (_plain, plain_ops, plain_doc) = node_ops(&tmp.path().join("plain"), false);
    let (enc, enc_ops, _) = node_ops(&tmp.path().join("enc"), true);
    for (i, op) in plain_ops.iter().enumerate() {
        c.put("ingest_wire", &format!("plain-{i}"), op);
    }
    for (i, op) in enc_ops.iter().enumerate() {
        c.put("ingest_wire", &format!("encrypted-{i}"), op);
    }

    // ingest_signed: bodies the fixed author signs (mode bit 0 control, bit 1 encrypted
    // node, bit 2 fresh document).
    let device = DeviceKeys::generate(key.verifying_key()).expect("device keys");
    let group_id = GroupId::from(fuzz_doc.as_hash());
    let (group, create) = DocumentGroup::create(&device, group_id, &[]).expect("create group");
    let update = loro_update(&key, "seed");
    let plain_body = seal(BodyScheme::Plain, &update);
    let envelope = group.encrypt(&update).expect("encrypt");
    let group_body = seal(BodyScheme::Group, &envelope);
    let create_body = with_tag(CONTROL_GROUP_MESSAGE, create.as_bytes());
    let bundle = device
        .key_bundle()
        .expect("bundle")
        .to_bytes()
        .expect("bundle bytes");
    let bundle_body = with_tag(CONTROL_KEY_BUNDLE, &bundle);
    c.put_mode("ingest_signed", "plain-delta", 0, &plain_body);
    c.put_mode("ingest_signed", "plain-delta-fresh", 4, &plain_body);
    c.put_mode("ingest_signed", "plain-control", 1, &create_body);
    c.put_mode("ingest_signed", "encrypted-plain-delta", 2, &plain_body);
    c.put_mode("ingest_signed", "encrypted-group-delta", 2, &group_body);
    c.put_mode("ingest_signed", "encrypted-create", 3, &create_body);
    c.put_mode("ingest_signed", "encrypted-bundle", 3, &bundle_body);
    c.put_mode("ingest_signed", "encrypted-bundle-fresh", 7, &bundle_body);

    // group_message: envelopes, plaintexts, tamper positions, control messages, bundles.
    c.put_mode("group_message", "decrypt-foreign", 0, &envelope);
    c.put_mode("group_message", "round-trip", 1, &update);
    c.put_mode("group_message", "tamper-header", 2, &with_tag(0, &[10, 1]));
    c.put_mode("group_message", "tamper-body", 2, &[0, 120, 0x80, 1, 2, 3]);
    c.put_mode("group_message", "receive-create", 3, create.as_bytes());
    c.put_mode("group_message", "key-bundle", 4, &bundle);
    for (i, op) in enc_ops.iter().enumerate() {
        // Control bodies and ciphertext envelopes of a real encrypted document.
        let op = fieldsync::internals::operation::decode_operation(op, 1 << 24, 1 << 24)
            .expect("decode");
        let Some(body) = op.body.as_ref().map(|b| b.as_bytes()) else {
            continue;
        };
        match (op.header.extensions.kind, body.split_first()) {
            (LogKind::Control, Some((&CONTROL_GROUP_MESSAGE, message))) => {
                c.put_mode("group_message", &format!("control-{i}"), 3, message);
            }
            (LogKind::Control, Some((&CONTROL_KEY_BUNDLE, bundle))) => {
                c.put_mode("group_message", &format!("bundle-{i}"), 4, bundle);
            }
            (LogKind::Delta, Some((_, envelope))) => {
                c.put_mode("group_message", &format!("envelope-{i}"), 0, envelope);
            }
            _ => {}
        }
    }

    // invite_parse: a full invite as text and its CBOR.
    let invite = Invite {
        document: plain_doc,
        node: enc.author(),
        addrs: vec!["127.0.0.1:4000".parse().expect("addr")],
        key_bundle: Some(bundle.clone()),
        token: Some(vec![7; fieldsync::internals::direct::TOKEN_LEN]),
    };
    let text = invite.encode();
    c.put_mode("invite_parse", "text", 0, text.as_bytes());
    let bare = Invite {
        key_bundle: None,
        token: None,
        addrs: Vec::new(),
        ..invite
    };
    c.put_mode("invite_parse", "text-bare", 0, bare.encode().as_bytes());
    {
        use base64::Engine;
        // `fs2:` payload: the CBOR followed by a 4-byte checksum.
        let mut cbor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text["fs2:".len()..])
            .expect("base64");
        cbor.truncate(cbor.len() - 4);
        c.put_mode("invite_parse", "cbor", 1, &cbor);
    }

    // peer_messages: gossip of each kind, raw and as signed content, heights, vectors.
    let mut vv = VersionVector::new();
    vv.set(AuthorId::from(key.verifying_key()), 41);
    vv.set(enc.author(), 3);
    let messages = [
        ("app", Ephemeral::App(b"cursor 3".to_vec())),
        ("heads", Ephemeral::Heads(vv.clone())),
        ("control-heads", Ephemeral::ControlHeads(vv.clone())),
        ("op", Ephemeral::Op(plain_ops[0].clone())),
    ];
    for (name, message) in &messages {
        let sealed = ephemeral::seal(&key, message);
        c.put_mode("peer_messages", &format!("gossip-{name}"), 0, &sealed);
        // Mode 1 takes kind | content (nonce and payload) and signs it itself.
        let mut content = vec![sealed[0]];
        content.extend_from_slice(&sealed[97..]);
        c.put_mode("peer_messages", &format!("content-{name}"), 1, &content);
    }
    let mut heights = fuzz_doc.as_bytes().to_vec();
    for (author, kind, seq) in [
        (key.verifying_key(), 0u8, 12u32),
        (key.verifying_key(), 1, 0),
    ] {
        heights.extend_from_slice(author.as_bytes());
        heights.push(kind);
        heights.extend_from_slice(&seq.to_be_bytes());
    }
    c.put_mode("peer_messages", "heights", 2, &heights);
    c.put_mode("peer_messages", "version-vector", 3, &vv.to_bytes());

    // direct_envelope: a join request and an app message between two nodes, envelopes the
    // fuzzing author signs around their ciphertexts, payload plaintexts for the fuzzing
    // author and the fixed peer (`PEER_SEED` in the target), inputs of the ratchet mode.
    let (r, s) = (
        Node::open(NodeConfig::new(tmp.path().join("r"))).expect("open node"),
        Node::open(NodeConfig::new(tmp.path().join("s"))).expect("open node"),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let r_doc = r.create_document().expect("create");
    rt.block_on(s.join(&rt.block_on(r_doc.invite()).expect("invite")))
        .expect("join");
    let request = s.pending_direct(r.author()).expect("pending").remove(0);
    r.receive_direct(&request).expect("join request");
    s.acknowledge_direct(r.author(), 1).expect("acknowledge");
    s.send_direct(r.author(), b"pump 3 is dry").expect("send");
    let app = s.pending_direct(r.author()).expect("pending").remove(0);
    let dt = "direct_envelope";
    c.put_mode(dt, "join-request", 0, &request);
    c.put_mode(dt, "app", 0, &app);
    let me = AuthorId::from(key.verifying_key());
    for (name, envelope) in [("x3dh", &request), ("ratchet", &app)] {
        // Counter 1 of a sender R has no session with: the ratchet decoder is reached.
        let sealed = Envelope::open(envelope).expect("envelope").sealed;
        let signed = Envelope {
            from: me,
            to: r.author(),
            counter: 1,
            sealed: sealed.clone(),
        };
        c.put_mode(dt, &format!("signed-{name}"), 0, &signed.seal(&key));
        let mut input = vec![0];
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(&sealed);
        c.put_mode(dt, &format!("sealed-{name}"), 1, &input);
    }
    let peer = AuthorId::from(SigningKey::from_bytes(&[9; 32]).verifying_key());
    let join = DirectPayload::JoinRequest {
        document: fuzz_doc,
        token: vec![7; TOKEN_LEN],
        key_bundle: bundle.clone(),
    };
    for (name, payload) in [
        ("app", DirectPayload::App(b"cursor 3".to_vec())),
        ("join", join),
    ] {
        let mut input = 5u64.to_be_bytes().to_vec();
        input.extend(encode_payload(&me, &peer, 5, &payload));
        c.put_mode(dt, &format!("payload-{name}"), 2, &input);
    }
    let mut join = vec![1];
    join.extend_from_slice(&5u64.to_be_bytes());
    join.extend_from_slice(fuzz_doc.as_bytes());
    join.extend_from_slice(&[7; TOKEN_LEN]);
    join.extend_from_slice(&bundle);
    c.put_mode(dt, "round-trip-join", 3, &join);
    c.put_mode(dt, "send", 4, b"\x00\x00\x00\x00pump 3 is dry");
    c.put_mode(dt, "send-tampered-replayed", 4, b"\x07\x00\x28\x01cursor 3");
    eprintln!("seed corpora written to {}", c.dir.display());
}
