//! Nested containers as JSON: reading any value or container as JSON, writing a JSON value
//! as nested containers, and copying a whole document's containers into another one (the
//! import of a snapshot as this device's own edit).
//!
//! Writing maps JSON objects to maps, arrays to lists, and scalars to scalar values:
//! strings become plain string values, not collaborative texts (create those with a
//! handle's `insert_text`). Reading shows texts as strings and counters as numbers, so a
//! record written as JSON reads back as the same JSON.

use loro::{
    Container, ContainerTrait, LoroCounter, LoroDoc, LoroList, LoroMap, LoroMovableList, LoroText,
    LoroValue, ValueOrContainer,
};
use serde_json::Value as Json;

use crate::document::path::MAX_DEPTH;
use crate::document::{text, DocumentError};

fn engine(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

/// JSON of a Loro value (containers inside it already resolved, as `get_deep_value` gives).
pub(crate) fn json_of_value(v: LoroValue) -> Result<Json, DocumentError> {
    serde_json::to_value(v).map_err(engine)
}

/// JSON of a value or of a container's whole content.
pub(crate) fn json_of(v: ValueOrContainer) -> Result<Json, DocumentError> {
    json_of_value(v.get_deep_value())
}

/// The JSON text of a value or of a container's whole content.
pub(crate) fn json_text(v: ValueOrContainer) -> Result<String, DocumentError> {
    serde_json::to_string(&json_of(v)?).map_err(engine)
}

/// The JSON text of container `id` of `doc` (`null` once deleted).
pub(crate) fn container_json(
    doc: &LoroDoc,
    id: &loro::ContainerID,
) -> Result<String, DocumentError> {
    let Some(c) = doc.get_container(id.clone()) else {
        return Ok("null".into());
    };
    if c.is_deleted() {
        return Ok("null".into());
    }
    json_text(ValueOrContainer::Container(c))
}

/// A JSON number as a Loro value: integers that fit `i64` stay integers.
fn number(n: &serde_json::Number) -> Result<LoroValue, DocumentError> {
    if let Some(i) = n.as_i64() {
        return Ok(LoroValue::I64(i));
    }
    match n.as_f64() {
        Some(d) if d.is_finite() => Ok(LoroValue::Double(d)),
        _ => Err(DocumentError::InvalidArgument(format!(
            "number {n} cannot be stored"
        ))),
    }
}

/// Where a JSON value goes: a key of a map, or an index of a list (inserted there).
pub(crate) enum Slot<'a> {
    /// `map[key]`, replacing what is there.
    Key(&'a LoroMap, &'a str),
    /// Inserted into `list` at `index`.
    Insert(&'a LoroList, usize),
}

impl Slot<'_> {
    fn scalar(&self, v: LoroValue) -> Result<(), DocumentError> {
        match self {
            Slot::Key(m, k) => m.insert(k, v).map_err(engine),
            Slot::Insert(l, i) => l.insert(*i, v).map_err(engine),
        }
    }

    fn child<C: ContainerTrait>(&self, c: C) -> Result<C, DocumentError> {
        match self {
            Slot::Key(m, k) => m.insert_container(k, c).map_err(engine),
            Slot::Insert(l, i) => l.insert_container(*i, c).map_err(engine),
        }
    }
}

/// Writes `json` into `slot`: objects as maps, arrays as lists, scalars as values.
pub(crate) fn write(slot: Slot<'_>, json: &Json) -> Result<(), DocumentError> {
    write_at(slot, json, 0)
}

fn write_at(slot: Slot<'_>, json: &Json, depth: usize) -> Result<(), DocumentError> {
    if depth > MAX_DEPTH {
        return Err(DocumentError::InvalidArgument(format!(
            "JSON nested deeper than {MAX_DEPTH}"
        )));
    }
    match json {
        Json::Null => slot.scalar(LoroValue::Null),
        Json::Bool(b) => slot.scalar(LoroValue::Bool(*b)),
        Json::Number(n) => slot.scalar(number(n)?),
        Json::String(s) => slot.scalar(LoroValue::from(s.as_str())),
        Json::Array(items) => {
            let list = slot.child(LoroList::new())?;
            for (i, item) in items.iter().enumerate() {
                write_at(Slot::Insert(&list, i), item, depth + 1)?;
            }
            Ok(())
        }
        Json::Object(fields) => {
            let map = slot.child(LoroMap::new())?;
            for (k, v) in fields {
                write_at(Slot::Key(&map, k), v, depth + 1)?;
            }
            Ok(())
        }
    }
}

/// Copies every root container of `src` into `dst` (same names, types and content), as
/// edits of `dst`'s peer. Rich-text marks and trees are not part of FieldSync's model:
/// marks are dropped, a tree is refused.
pub(crate) fn copy_document(src: &LoroDoc, dst: &LoroDoc) -> Result<(), DocumentError> {
    let LoroValue::Map(roots) = src.get_value() else {
        return Ok(());
    };
    for (name, v) in roots.iter() {
        let LoroValue::Container(id) = v else {
            continue;
        };
        let Some(from) = src.get_container(id.clone()) else {
            continue;
        };
        match from {
            Container::Map(m) => copy_map(&m, &dst.get_map(name.as_str()), 0)?,
            Container::List(l) => copy_list(&l, &dst.get_list(name.as_str()), 0)?,
            Container::MovableList(l) => copy_movable(&l, &dst.get_movable_list(name.as_str()), 0)?,
            Container::Text(t) => copy_text(&t, &dst.get_text(name.as_str()))?,
            Container::Counter(c) => copy_counter(&c, &dst.get_counter(name.as_str()))?,
            Container::Tree(_) | Container::Unknown(_) => return Err(unsupported(name)),
        }
    }
    Ok(())
}

fn unsupported(what: impl std::fmt::Display) -> DocumentError {
    DocumentError::InvalidArgument(format!(
        "container {what} is a tree or of an unknown type, which FieldSync does not hold"
    ))
}

fn too_deep() -> DocumentError {
    DocumentError::InvalidArgument(format!("containers nested deeper than {MAX_DEPTH}"))
}

fn copy_text(from: &LoroText, to: &LoroText) -> Result<(), DocumentError> {
    text::insert(to, to.len_unicode(), &from.to_string())
}

fn copy_counter(from: &LoroCounter, to: &LoroCounter) -> Result<(), DocumentError> {
    let v = from.get_value();
    if v != 0.0 {
        to.increment(v).map_err(engine)?;
    }
    Ok(())
}

/// Where a copied value goes.
enum Dest<'a> {
    Key(&'a LoroMap, &'a str),
    Push(&'a LoroList),
    PushMovable(&'a LoroMovableList),
}

impl Dest<'_> {
    fn scalar(&self, v: LoroValue) -> Result<(), DocumentError> {
        match self {
            Dest::Key(m, k) => m.insert(k, v),
            Dest::Push(l) => l.push(v),
            Dest::PushMovable(l) => l.push(v),
        }
        .map_err(engine)
    }

    fn child<C: ContainerTrait>(&self, c: C) -> Result<C, DocumentError> {
        match self {
            Dest::Key(m, k) => m.insert_container(k, c),
            Dest::Push(l) => l.push_container(c),
            Dest::PushMovable(l) => l.push_container(c),
        }
        .map_err(engine)
    }
}

/// Copies `v` into `dest`.
fn copy_into(v: ValueOrContainer, dest: Dest<'_>, depth: usize) -> Result<(), DocumentError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match v {
        ValueOrContainer::Value(v) => dest.scalar(v),
        ValueOrContainer::Container(c) => match c {
            Container::Map(m) => copy_map(&m, &dest.child(LoroMap::new())?, depth + 1),
            Container::List(l) => copy_list(&l, &dest.child(LoroList::new())?, depth + 1),
            Container::MovableList(l) => {
                copy_movable(&l, &dest.child(LoroMovableList::new())?, depth + 1)
            }
            Container::Text(t) => copy_text(&t, &dest.child(LoroText::new())?),
            Container::Counter(c) => copy_counter(&c, &dest.child(LoroCounter::new())?),
            Container::Tree(t) => Err(unsupported(t.id())),
            Container::Unknown(u) => Err(unsupported(u.id())),
        },
    }
}

fn copy_map(from: &LoroMap, to: &LoroMap, depth: usize) -> Result<(), DocumentError> {
    let mut entries = Vec::new();
    from.for_each(|k, v| entries.push((k.to_string(), v)));
    for (k, v) in entries {
        copy_into(v, Dest::Key(to, &k), depth)?;
    }
    Ok(())
}

fn copy_list(from: &LoroList, to: &LoroList, depth: usize) -> Result<(), DocumentError> {
    let mut items = Vec::new();
    from.for_each(|v| items.push(v));
    for v in items {
        copy_into(v, Dest::Push(to), depth)?;
    }
    Ok(())
}

fn copy_movable(
    from: &LoroMovableList,
    to: &LoroMovableList,
    depth: usize,
) -> Result<(), DocumentError> {
    let mut items = Vec::new();
    from.for_each(|v| items.push(v));
    for v in items {
        copy_into(v, Dest::PushMovable(to), depth)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_written_as_containers_reads_back_the_same() {
        let doc = LoroDoc::new();
        let json: Json = serde_json::from_str(
            r#"{"name":"Household 1","size":4,"ratio":0.5,"ok":true,"none":null,
                "readings":[1,2,{"t":3}],"nested":{"deep":["x"]}}"#,
        )
        .unwrap();
        let root = doc.get_map("root");
        write(Slot::Key(&root, "record"), &json).unwrap();
        doc.commit();
        let back = json_of(root.get("record").unwrap()).unwrap();
        assert_eq!(back, json);
        assert!(
            matches!(
                root.get("record"),
                Some(ValueOrContainer::Container(Container::Map(_)))
            ),
            "an object is a map container"
        );
        let too_big = serde_json::json!(u64::MAX);
        assert!(matches!(
            write(Slot::Key(&root, "n"), &too_big),
            Ok(()) // u64::MAX is a finite f64
        ));
    }

    #[test]
    fn a_copied_document_has_the_same_json() {
        let src = LoroDoc::new();
        let m = src.get_map("households");
        let rec = m.insert_container("h1", LoroMap::new()).unwrap();
        rec.insert("size", 3).unwrap();
        let notes = rec.insert_container("notes", LoroText::new()).unwrap();
        notes.insert(0, "hello 😀").unwrap();
        let readings = rec.insert_container("readings", LoroList::new()).unwrap();
        readings.push(1.5).unwrap();
        let c = rec.insert_container("visits", LoroCounter::new()).unwrap();
        c.increment(2.0).unwrap();
        src.get_text("title").insert(0, "Survey").unwrap();
        src.commit();
        let dst = LoroDoc::new();
        copy_document(&src, &dst).unwrap();
        dst.commit();
        assert_eq!(dst.get_deep_value(), src.get_deep_value());
        let tree = LoroDoc::new();
        tree.get_tree("t").create(None).unwrap();
        tree.commit();
        assert!(copy_document(&tree, &LoroDoc::new()).is_err());
    }
}
