//! Random edit scripts for property tests: a strategy over text, map and list edits, nested
//! records (a list of maps, each with a list and a text), counters and JSON writes, and
//! their application to a document (positions wrap around the current length).

use fieldsync::{Document, Value};
use proptest::prelude::*;

/// One edit of a test document.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Insert a string into the text "text" (position modulo length + 1).
    TextInsert(usize, String),
    /// Delete up to n characters of "text" (position modulo length).
    TextDelete(usize, usize),
    /// Set key `k{n}` of the map "map".
    MapSet(u8, i64),
    /// Delete key `k{n}` of "map".
    MapDelete(u8),
    /// Insert a string into the list "list".
    ListInsert(usize, String),
    /// Delete one item of "list".
    ListDelete(usize),
    /// Insert a record into the list "households": a map `{name, readings: []}` written as
    /// JSON, then a text "notes" created in it.
    RecordAdd(usize, String),
    /// Set field `f{n}` of a record (record index modulo length).
    RecordSet(usize, u8, i64),
    /// Append a reading to a record's list "readings".
    RecordReading(usize, i64),
    /// Insert into a record's text "notes" (position modulo its length + 1).
    RecordNote(usize, usize, String),
    /// Delete a record (with everything in it).
    RecordDelete(usize),
    /// Add to the root counter "visits".
    Count(i8),
    /// Write a small JSON object at key `j{n}` of "map".
    MapJson(u8, i64),
}

/// Strategy producing any [`Edit`].
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), "[a-zé😀 ]{1,6}").prop_map(|(p, s)| Edit::TextInsert(p, s)),
        (any::<usize>(), 1usize..4).prop_map(|(p, n)| Edit::TextDelete(p, n)),
        (0u8..5, any::<i64>()).prop_map(|(k, v)| Edit::MapSet(k, v)),
        (0u8..5).prop_map(Edit::MapDelete),
        (any::<usize>(), "[a-z]{0,4}").prop_map(|(p, s)| Edit::ListInsert(p, s)),
        any::<usize>().prop_map(Edit::ListDelete),
        (any::<usize>(), "[a-z]{1,5}").prop_map(|(p, s)| Edit::RecordAdd(p, s)),
        (any::<usize>(), 0u8..3, any::<i64>()).prop_map(|(r, f, v)| Edit::RecordSet(r, f, v)),
        (any::<usize>(), any::<i64>()).prop_map(|(r, v)| Edit::RecordReading(r, v)),
        (any::<usize>(), any::<usize>(), "[a-zé😀 ]{1,4}")
            .prop_map(|(r, p, s)| Edit::RecordNote(r, p, s)),
        any::<usize>().prop_map(Edit::RecordDelete),
        any::<i8>().prop_map(Edit::Count),
        (0u8..3, any::<i64>()).prop_map(|(k, v)| Edit::MapJson(k, v)),
    ]
}

/// Record `r` (modulo the count) of "households", if there is one.
fn record(doc: &Document, r: usize) -> Option<fieldsync::MapHandle> {
    let list = doc.list("households").unwrap();
    let len = list.len().unwrap();
    (len > 0).then(|| list.get_map(r % len).unwrap()).flatten()
}

/// Applies an edit to a document.
pub fn apply(doc: &Document, e: &Edit) {
    let text = doc.text("text").unwrap();
    let list = doc.list("list").unwrap();
    let map = doc.map("map").unwrap();
    match e {
        Edit::TextInsert(p, s) => {
            let len = text.len().unwrap();
            text.insert(p % (len + 1), s).unwrap();
        }
        Edit::TextDelete(p, n) => {
            let len = text.len().unwrap();
            if len > 0 {
                let p = p % len;
                text.delete(p, (*n).min(len - p)).unwrap();
            }
        }
        Edit::MapSet(k, v) => map.set(&format!("k{k}"), Value::Int(*v)).unwrap(),
        Edit::MapDelete(k) => map.delete(&format!("k{k}")).unwrap(),
        Edit::ListInsert(p, s) => {
            let len = list.len().unwrap();
            list.insert(p % (len + 1), Value::from(s.as_str())).unwrap();
        }
        Edit::ListDelete(p) => {
            let len = list.len().unwrap();
            if len > 0 {
                list.delete(p % len, 1).unwrap();
            }
        }
        Edit::RecordAdd(p, name) => {
            let households = doc.list("households").unwrap();
            let at = p % (households.len().unwrap() + 1);
            households
                .insert_json(at, &format!(r#"{{"name":"{name}","readings":[]}}"#))
                .unwrap();
            let rec = households
                .get_map(at)
                .unwrap()
                .expect("the record just inserted");
            rec.insert_text("notes").unwrap();
        }
        Edit::RecordSet(r, f, v) => {
            if let Some(rec) = record(doc, *r) {
                rec.set(&format!("f{f}"), Value::Int(*v)).unwrap();
            }
        }
        Edit::RecordReading(r, v) => {
            // A concurrent replacement of "readings" may leave a record without one.
            if let Some(readings) = record(doc, *r).and_then(|m| m.get_list("readings").unwrap()) {
                readings.push(Value::Int(*v)).unwrap();
            }
        }
        Edit::RecordNote(r, p, s) => {
            if let Some(notes) = record(doc, *r).and_then(|m| m.get_text("notes").unwrap()) {
                let len = notes.len().unwrap();
                notes.insert(p % (len + 1), s).unwrap();
            }
        }
        Edit::RecordDelete(r) => {
            let households = doc.list("households").unwrap();
            let len = households.len().unwrap();
            if len > 0 {
                households.delete(r % len, 1).unwrap();
            }
        }
        Edit::Count(n) => doc
            .counter("visits")
            .unwrap()
            .increment(f64::from(*n))
            .unwrap(),
        Edit::MapJson(k, v) => map
            .set_json(
                &format!("j{k}"),
                &format!(r#"{{"v":{v},"tags":["a",{v}]}}"#),
            )
            .unwrap(),
    }
}
