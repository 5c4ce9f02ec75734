//! Random edit scripts for property tests: a strategy over text, map and list edits, and
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
    ]
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
    }
}
