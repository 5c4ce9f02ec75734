//! The catch-up stream a peer sends once the document is agreed on (`core/src/net/catchup.rs`,
//! `fieldsync/catchup/3`): fork-proof frames up to the empty one (each decoded and verified),
//! heights pages up to the empty one (a height: author, kind, seq, head hash), the 8-byte
//! operation count, operation frames of at most `max_frame` bytes (each granted by a receive
//! budget) up to the empty frame. Read by
//! `fieldsync::internals::catchup_parse_stream` with the session's own frame reader, page
//! decoder and budget, without a network; pages also go to `catchup_heights`.
//!
//! Eight fixed logs (author of secret key `[LOG_SEED_BASE + i; 32]`, kind Delta for even `i`,
//! Control for odd; `CATCHUP_LOG_SEED_BASE` in `tests/src/bin/fuzz_seeds.rs` must match).
//!
//! Input: head (1) | max_frame (4, big endian; modulo 1 MiB, at least 1) | rest.
//! `(head & 0x7f) % 9` of the fixed logs (the first ones) are "ours".
//! - head bit 7 clear: rest is the stream. Never panics; `Ok((kept, ops))` has kept <= ours,
//!   room for `ops` non-empty frames in the stream, and the same result (kept at least as
//!   large) with all eight logs as ours. `catchup_heights` of the stream accepts only
//!   whole pages of at most `PAGE_LOGS` heights.
//! - head bit 7 set: rest describes a well-formed stream the target builds (see [`build`]):
//!   up to three heights pages listing fixed logs, fixed authors under the other kind and
//!   authors derived from input bytes, after the empty proofs frame (valid proofs are the
//!   `fork_proof` target's), the empty page, the count, up to eight non-empty frames
//!   of at most `max_frame` bytes, the empty frame. It must parse to exactly the fixed logs of
//!   ours it lists and exactly its frames; each page must decode to its heights; cut short
//!   anywhere (at and around every frame boundary, before the last byte, and at two
//!   input-chosen bytes; a budget of decoded heights skips costly cuts) it must be refused.

#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use fieldsync::internals::operation::LogKind;
use fieldsync::internals::{catchup_heights, catchup_parse_stream};
use fieldsync::AuthorId;
use libfuzzer_sys::fuzz_target;
use p2panda_core::{Hash, SigningKey};

/// Secret key of fixed log `i` is `[LOG_SEED_BASE + i; 32]`.
const LOG_SEED_BASE: u8 = 0xC0;
/// Number of fixed logs.
const LOGS: usize = 8;
/// Bytes of one height: author, log kind code, seq (big endian), head hash.
const HEIGHT_BYTES: usize = 32 + 1 + 4 + 32;
/// Most heights in one page (`PAGE_LOGS` in `core/src/net/catchup.rs`).
const PAGE_LOGS: usize = 4096;
/// `max_frame` is taken modulo this.
const MAX_FRAME_MOD: u32 = 1 << 20;
/// Bytes of operation frames one built stream holds at most (beyond it frames are 1 byte).
const FRAME_BYTES: usize = 4 << 20;
/// Heights one built stream lists at most (each costs an ed25519 point decompression per
/// parse, so this bounds the time of an input).
const STREAM_HEIGHTS: usize = PAGE_LOGS + 64;
/// Heights the truncated parses of one input decode at most, beyond cuts of few heights.
const CUT_HEIGHTS: usize = 2 * STREAM_HEIGHTS;
/// Cuts decoding at most this many heights are always checked.
const CHEAP_CUT: usize = 64;
/// Smallest stream that parses: empty proofs frame, empty page, count frame, empty frame.
const MIN_STREAM: usize = 4 + 4 + (4 + 8) + 4;

type Log = (AuthorId, LogKind, u32);

fn kind_of(i: usize) -> LogKind {
    if i % 2 == 0 {
        LogKind::Delta
    } else {
        LogKind::Control
    }
}

fn other(kind: LogKind) -> LogKind {
    match kind {
        LogKind::Delta => LogKind::Control,
        LogKind::Control | LogKind::Snapshot => LogKind::Delta,
    }
}

fn author_of(seed: &[u8; 32]) -> AuthorId {
    AuthorId::from(SigningKey::from_bytes(seed).verifying_key())
}

/// The fixed logs (ours with seq `10 + i`).
fn fixed() -> &'static [Log; LOGS] {
    static LOGS_: OnceLock<[Log; LOGS]> = OnceLock::new();
    LOGS_.get_or_init(|| {
        std::array::from_fn(|i| {
            let author = author_of(&[LOG_SEED_BASE + i as u8; 32]);
            (author, kind_of(i), 10 + i as u32)
        })
    })
}

/// Reads the description of a built stream; zeros once the input is used up.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.byte())
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
}

/// A stream under construction, with the (start, body length) of each frame.
#[derive(Default)]
struct Stream {
    bytes: Vec<u8>,
    frames: Vec<(usize, usize)>,
    /// (end, heights) of each non-empty heights page.
    pages: Vec<(usize, usize)>,
}

impl Stream {
    fn frame(&mut self, body: &[u8]) {
        self.frames.push((self.bytes.len(), body.len()));
        let len = u32::try_from(body.len()).expect("frame under 4 GiB");
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(body);
    }

    /// Heights the reader decodes before it reaches byte `cut` (pages are decoded whole).
    fn heights_before(&self, cut: usize) -> usize {
        self.pages
            .iter()
            .filter(|&&(end, _)| end <= cut)
            .map(|&(_, n)| n)
            .sum()
    }
}

fn encode_height(out: &mut Vec<u8>, (author, kind, seq): &Log) {
    out.extend_from_slice(author.as_bytes());
    out.push(kind.code() as u8);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(Hash::digest(seq.to_be_bytes()).as_bytes());
}

/// One height of a page: byte `e`, then by `e % 4`: 0 and 1, fixed log `(e >> 2) % 8`; 2,
/// that log's author under the other kind; 3, the author of secret key (32 bytes), kind
/// `(e >> 2) & 1`. Then the seq (4).
fn height(r: &mut Reader) -> Log {
    let e = r.byte();
    let i = usize::from(e >> 2) % LOGS;
    let (author, kind) = match e % 4 {
        0 | 1 => (fixed()[i].0, fixed()[i].1),
        2 => (fixed()[i].0, other(fixed()[i].1)),
        _ => {
            let kind = if (e >> 2) & 1 == 0 {
                LogKind::Delta
            } else {
                LogKind::Control
            };
            (author_of(&r.array()), kind)
        }
    };
    (author, kind, r.u32())
}

/// Builds a well-formed stream from `r`: pages (1: `% 4` non-empty pages), each: distinct
/// heights (1: `1 + % 8`), the heights (see [`height`]), a length byte `l` (0xFF: 2 more
/// bytes, `1 + u16 % PAGE_LOGS` heights; else the distinct count `+ l % 32`), cycling
/// through the distinct heights, at most `STREAM_HEIGHTS` in all pages; then frames (1:
/// `% 9`), each: a class byte (`% 4`: 0 or 1, 1 + the next byte; 2, `max_frame`; 3, 1 + the
/// next 3 bytes) clamped to `max_frame`; then two cut positions (4 each); then the frames'
/// bytes (a pattern once the input is used up).
/// Returns the stream, the (author, kind) pairs listed, the number of operation frames and
/// the cut positions.
fn build(
    r: &mut Reader,
    max_frame: usize,
) -> (Stream, HashSet<(AuthorId, LogKind)>, u64, [u32; 2]) {
    let mut stream = Stream::default();
    // No fork proofs: the empty frame that ends them.
    stream.frame(&[]);
    let mut listed = HashSet::new();
    let mut room = STREAM_HEIGHTS;
    for _ in 0..r.byte() % 4 {
        let distinct: Vec<Log> = (0..1 + r.byte() % 8).map(|_| height(r)).collect();
        let n = match r.byte() {
            0xFF => 1 + usize::from(r.u16()) % PAGE_LOGS,
            b => distinct.len() + usize::from(b % 32),
        };
        let n = n.min(room);
        if n == 0 {
            break;
        }
        room -= n;
        let mut page = Vec::with_capacity(n * HEIGHT_BYTES);
        for log in distinct.iter().cycle().take(n) {
            encode_height(&mut page, log);
            listed.insert((log.0, log.1));
        }
        assert_eq!(
            catchup_heights(&page),
            Some(n),
            "a page of {n} valid heights refused"
        );
        stream.frame(&page);
        stream.pages.push((stream.bytes.len(), n));
    }
    assert_eq!(catchup_heights(&[]), Some(0));
    stream.frame(&[]);
    let ops = r.byte() % 9;
    stream.frame(&u64::from(ops).to_be_bytes());
    let mut budget = FRAME_BYTES;
    let lens: Vec<usize> = (0..ops)
        .map(|_| {
            let len = match r.byte() % 4 {
                0 | 1 => 1 + usize::from(r.byte()),
                2 => max_frame,
                _ => {
                    let [a, b, c] = r.array();
                    1 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
                }
            };
            let len = len.min(max_frame).min(budget).max(1);
            budget = budget.saturating_sub(len);
            len
        })
        .collect();
    let cuts = [r.u32(), r.u32()];
    let mut fill = 0u8;
    for len in lens {
        let body: Vec<u8> = (0..len)
            .map(|_| {
                if r.0.is_empty() {
                    fill = fill.wrapping_add(1);
                    fill
                } else {
                    r.byte()
                }
            })
            .collect();
        stream.frame(&body);
    }
    stream.frame(&[]);
    (stream, listed, u64::from(ops), cuts)
}

fn raw(stream: &[u8], ours: &[Log], max_frame: usize) {
    let parsed = catchup_parse_stream(stream, ours, max_frame);
    if let Ok((kept, ops)) = parsed {
        assert!(kept <= ours.len(), "kept {kept} of {} logs", ours.len());
        // Every operation frame is non-empty: 5 bytes at least.
        let ops_room = stream.len().saturating_sub(MIN_STREAM) / 5;
        assert!(
            stream.len() >= MIN_STREAM && ops <= ops_room as u64,
            "{ops} operation frames in a stream of {} bytes",
            stream.len()
        );
        let (all_kept, all_ops) = catchup_parse_stream(stream, fixed(), max_frame)
            .expect("accepted with some logs ours, refused with all");
        assert_eq!(all_ops, ops);
        assert!(kept <= all_kept && all_kept <= LOGS);
    }
    if let Some(n) = catchup_heights(stream) {
        assert!(n <= PAGE_LOGS && n * HEIGHT_BYTES == stream.len());
    }
    if stream.len() % HEIGHT_BYTES != 0 || stream.len() / HEIGHT_BYTES > PAGE_LOGS {
        assert_eq!(catchup_heights(stream), None);
    }
}

fn structured(rest: &[u8], ours: &[Log], max_frame: usize) {
    let mut r = Reader(rest);
    let (stream, listed, ops, extra) = build(&mut r, max_frame);
    let expected = ours
        .iter()
        .filter(|(author, kind, _)| listed.contains(&(*author, *kind)))
        .count();
    let got = catchup_parse_stream(&stream.bytes, ours, max_frame);
    assert_eq!(
        got,
        Ok((expected, ops)),
        "well-formed stream of {} bytes, max_frame {max_frame}",
        stream.bytes.len()
    );
    // Cuts in order of priority: the last byte missing, the input's, then at each frame its
    // start, inside its length, after its length and before its last byte. Cuts past many
    // heights are skipped once `CUT_HEIGHTS` are spent.
    let len = stream.bytes.len();
    let mut cuts = vec![len - 1];
    cuts.extend(extra.iter().map(|&c| c as usize % len));
    for &(start, body) in &stream.frames {
        cuts.extend([start, start + 2, start + 4]);
        if body > 1 {
            cuts.push(start + 4 + body - 1);
        }
    }
    let mut seen = HashSet::new();
    let mut spent = 0;
    for cut in cuts {
        let cost = stream.heights_before(cut);
        if cut >= len || !seen.insert(cut) || (cost > CHEAP_CUT && spent + cost > CUT_HEIGHTS) {
            continue;
        }
        spent += cost;
        let parsed = catchup_parse_stream(&stream.bytes[..cut], ours, max_frame);
        assert!(
            parsed.is_err(),
            "stream of {len} bytes cut to {cut} accepted: {parsed:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Some((frame, rest)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let max_frame = (u32::from_be_bytes(*frame) % MAX_FRAME_MOD).max(1) as usize;
    let ours = &fixed()[..usize::from(head & 0x7f) % (LOGS + 1)];
    if head & 0x80 == 0 {
        raw(rest, ours, max_frame);
    } else {
        structured(rest, ours, max_frame);
    }
});
