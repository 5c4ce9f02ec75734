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
        relay: Some("https://relay.example.org".into()),
    };
    let text = invite.encode();
    c.put_mode("invite_parse", "text", 0, text.as_bytes());
    let bare = Invite {
        key_bundle: None,
        token: None,
        addrs: Vec::new(),
        relay: None,
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

    // snapshot_body: a body with two covered logs, and one with none.
    {
        use fieldsync::internals::operation::{build_operation, LogKind};
        use fieldsync::internals::snapshot::{encode, Cover};
        let doc = fieldsync::DocumentId::from(p2panda_core::Hash::digest(b"fuzz document"));
        let covers: Vec<Cover> = [key.clone(), p2panda_core::SigningKey::from_bytes(&[7; 32])]
            .iter()
            .map(|k| {
                let op = build_operation(k, doc, LogKind::Delta, None, b"x".to_vec());
                Cover::from_header(&op.header.encode()).expect("a header")
            })
            .collect();
        c.put("snapshot_body", "two-logs", &encode(&covers, &[1, 2, 3, 4]));
        c.put("snapshot_body", "no-logs", &encode(&[], &[0]));
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
    catchup_frames(&c);
    fork_proof(&c);
    eprintln!("seed corpora written to {}", c.dir.display());
}

/// Secret key of fixed catch-up log `i` is `[CATCHUP_LOG_SEED_BASE + i; 32]`, its kind Delta
/// for even `i`, Control for odd (`LOG_SEED_BASE` in `fuzz/fuzz_targets/catchup_frames.rs`).
const CATCHUP_LOG_SEED_BASE: u8 = 0xC0;

/// catchup_frames: head (number of fixed logs that are ours, bit 7 for a stream the target
/// builds) | max_frame (4, big endian) | stream or its description.
fn catchup_frames(c: &Corpus) {
    let log = |i: u8, same_kind: bool, seq: u32| {
        let author = AuthorId::from(
            SigningKey::from_bytes(&[CATCHUP_LOG_SEED_BASE + i; 32]).verifying_key(),
        );
        let kind = if i.is_multiple_of(2) == same_kind {
            0u8
        } else {
            1
        };
        (author, kind, seq)
    };
    let stranger = AuthorId::from(SigningKey::from_bytes(&[0x55; 32]).verifying_key());
    let frame = |out: &mut Vec<u8>, body: &[u8]| {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    };
    let page = |heights: &[(AuthorId, u8, u32)]| {
        let mut out = Vec::new();
        for (author, kind, seq) in heights {
            out.extend_from_slice(author.as_bytes());
            out.push(*kind);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(p2panda_core::Hash::digest(seq.to_be_bytes()).as_bytes());
        }
        out
    };
    // A raw stream (`fieldsync/catchup/4`): the empty proofs frame, pages, the empty page,
    // the count, the operation frames, the empty frame.
    let stream = |ours: u8, max_frame: u32, pages: &[Vec<u8>], ops: &[Vec<u8>]| {
        let mut out = vec![ours];
        out.extend_from_slice(&max_frame.to_be_bytes());
        frame(&mut out, &[]);
        for p in pages {
            frame(&mut out, p);
        }
        frame(&mut out, &[]);
        frame(&mut out, &(ops.len() as u64).to_be_bytes());
        for op in ops {
            frame(&mut out, op);
        }
        frame(&mut out, &[]);
        out
    };
    let t = "catchup_frames";
    c.put(t, "empty", &stream(8, 1024, &[], &[]));
    let all: Vec<_> = (0..8).map(|i| log(i, true, 3 + u32::from(i))).collect();
    let mut listed = all.clone();
    listed.push((stranger, 0, 9));
    let ops: Vec<Vec<u8>> = (1..=3).map(|i| format!("op-{i}").into_bytes()).collect();
    c.put(t, "listed-ops", &stream(4, 256, &[page(&listed)], &ops));
    let first: Vec<_> = (0..4).map(|i| log(i, true, 1)).collect();
    let mut second: Vec<_> = (4..8).map(|i| log(i, false, 1)).collect();
    second.push(log(0, true, 7));
    c.put(
        t,
        "two-pages-other-kinds",
        &stream(
            8,
            16,
            &[page(&first), page(&second)],
            &[vec![0xAB; 16], vec![1]],
        ),
    );
    c.put(
        t,
        "none-ours",
        &stream(0, 65536, &[page(&all)], &[vec![7; 100]]),
    );
    // Built streams: pages (count; per page distinct heights, each `e` (| author seed) | seq,
    // then a length byte, 0xFF with a u16), frames (count; class byte (| length)), two
    // cuts (4 each), frame bytes.
    let mut built = vec![0x86];
    built.extend_from_slice(&300u32.to_be_bytes());
    built.extend_from_slice(&[2, 2]);
    built.extend_from_slice(&[0, 0, 0, 0, 5]);
    built.extend_from_slice(&[(1 << 2) | 2, 0, 0, 1, 0]);
    built.extend_from_slice(&[3]);
    built.extend_from_slice(&[0x55; 32]);
    built.extend_from_slice(&[0, 0, 0, 2, 0]);
    built.extend_from_slice(&[0, 5 << 2, 0, 0, 0, 9, 0xFF, 0x0F, 0xFF]);
    built.extend_from_slice(&[3, 0, 9, 2, 3, 1, 0, 0]);
    built.extend_from_slice(&[0, 0, 0, 77, 0, 1, 0, 0]);
    built.extend_from_slice(b"0123456789");
    c.put(t, "built-max-page", &built);
    let mut built = vec![0x88];
    built.extend_from_slice(&65537u32.to_be_bytes());
    built.extend_from_slice(&[1, 7]);
    for i in 0..8u8 {
        built.extend_from_slice(&[i << 2, 0, 0, 0, i]);
    }
    built.extend_from_slice(&[0, 2, 2, 3, 0, 255, 255]);
    c.put(t, "built-large-frames", &built);
}

/// fork_proof: head bit 0 set, then two shape bytes (signer bit 0, document bit 1, control
/// bit 2, chained bit 3 on base bit 4, body bit 5) and a byte to flip; head bit 0 clear, a
/// proof as received.
fn fork_proof(c: &Corpus) {
    let t = "fork_proof";
    c.put(t, "same-seq-two-bodies", &[1, 0b00_0000, 0b10_0000, 9, 3]);
    c.put(t, "successor-on-another", &[1, 0b00_0000, 0b11_1000, 40, 0]);
    c.put(t, "one-log", &[1, 0b00_0000, 0b00_1000, 0, 0]);
    c.put(t, "two-authors", &[1, 0b00_0000, 0b00_0001, 0, 0]);
    c.put(t, "two-seq-one-control", &[1, 0b00_1100, 0b11_1100, 1, 1]);
    let mut raw = vec![0u8];
    raw.extend_from_slice(&3u16.to_be_bytes());
    raw.extend_from_slice(b"abc");
    raw.extend_from_slice(&0u16.to_be_bytes());
    c.put(t, "raw-garbage-headers", &raw);
}
