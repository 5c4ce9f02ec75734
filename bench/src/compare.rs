//! The same edit workload with plain `loro` and with `automerge`'s sync protocol: no
//! signing, no encryption, no storage, in memory.

use std::time::{Duration, Instant};

use automerge::sync::{State as SyncState, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};

use crate::stats::rate;

/// (per-edit write + deliver + apply rate, bulk catch-up time) for `n` one-character edits.
pub fn loro(n: usize) -> (f64, Duration) {
    let a = loro::LoroDoc::new();
    let b = loro::LoroDoc::new();
    let ta = a.get_text("t");
    let start = Instant::now();
    for _ in 0..n {
        let before = a.oplog_vv();
        ta.insert(ta.len_unicode(), "x").expect("insert");
        a.commit();
        let update = a
            .export(loro::ExportMode::updates(&before))
            .expect("export");
        b.import(&update).expect("import");
    }
    let per_edit = rate(n, start.elapsed());
    assert_eq!(b.get_text("t").to_string(), ta.to_string());
    // Bulk: a fresh replica imports all updates at once.
    let c = loro::LoroDoc::new();
    let start = Instant::now();
    let all = a.export(loro::ExportMode::all_updates()).expect("export");
    c.import(&all).expect("import");
    let bulk = start.elapsed();
    assert_eq!(c.get_text("t").len_unicode(), n);
    (per_edit, bulk)
}

fn sync(from: &mut AutoCommit, to: &mut AutoCommit, sf: &mut SyncState, st: &mut SyncState) {
    loop {
        let mut moved = false;
        if let Some(m) = from.sync().generate_sync_message(sf) {
            to.sync().receive_sync_message(st, m).expect("receive");
            moved = true;
        }
        if let Some(m) = to.sync().generate_sync_message(st) {
            from.sync().receive_sync_message(sf, m).expect("receive");
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

/// (per-edit write + sync rate, bulk catch-up time) for `n` one-character edits, each its
/// own commit, synchronised with automerge's sync protocol.
pub fn automerge(n: usize) -> (f64, Duration) {
    let mut a = AutoCommit::new();
    let text = a.put_object(ROOT, "t", ObjType::Text).expect("text");
    a.commit();
    let mut b = AutoCommit::new();
    let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
    sync(&mut a, &mut b, &mut sa, &mut sb);
    let start = Instant::now();
    for i in 0..n {
        a.splice_text(&text, i, 0, "x").expect("splice");
        a.commit();
        sync(&mut a, &mut b, &mut sa, &mut sb);
    }
    let per_edit = rate(n, start.elapsed());
    let (_, t_b) = b.get(ROOT, "t").expect("get").expect("text in b");
    assert_eq!(b.text(&t_b).expect("text").len(), n);
    let mut c = AutoCommit::new();
    let (mut sa, mut sc) = (SyncState::new(), SyncState::new());
    let start = Instant::now();
    sync(&mut a, &mut c, &mut sa, &mut sc);
    let bulk = start.elapsed();
    let (_, t_c) = c.get(ROOT, "t").expect("get").expect("text in c");
    assert_eq!(c.text(&t_c).expect("text").len(), n);
    (per_edit, bulk)
}
