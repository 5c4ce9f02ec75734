//! [`ListHandle`]: a collaborative list of values and nested containers.

use loro::{ContainerID, ContainerTrait, LoroCounter, LoroDoc, LoroList, LoroMap, LoroText};

use crate::document::tree::{self, Slot};
use crate::document::{DocumentError, Value};
use crate::node::handles::{alive, bounds, container_json, engine, parse_json, range, Kind};
use crate::node::{CounterHandle, Document, Handle, MapHandle, TextHandle};

/// A collaborative list of scalar values or nested containers (a list of records is a list
/// of maps). Concurrent inserts all stay, ordered the same on every replica.
#[derive(Clone)]
pub struct ListHandle {
    pub(crate) doc: Document,
    pub(crate) id: ContainerID,
}

impl std::fmt::Debug for ListHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListHandle({})", self.id)
    }
}

impl ListHandle {
    fn list(&self, d: &LoroDoc) -> LoroList {
        d.get_list(self.id.clone())
    }

    fn edit<T>(
        &self,
        f: impl FnOnce(&LoroList) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let id = self.id.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let l = d.get_list(id);
            alive(&l)?;
            f(&l)
        })
    }

    /// Inserts a scalar `value` at `index`.
    pub fn insert(&self, index: usize, value: Value) -> Result<(), DocumentError> {
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        self.edit(|l| {
            bounds(index, l.len())?;
            l.insert(index, v).map_err(engine)
        })
    }

    /// Appends a scalar `value`.
    pub fn push(&self, value: Value) -> Result<(), DocumentError> {
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        self.edit(|l| l.push(v).map_err(engine))
    }

    /// Deletes `count` items starting at `index` (containers among them with everything in
    /// them).
    pub fn delete(&self, index: usize, count: usize) -> Result<(), DocumentError> {
        self.edit(|l| {
            range(index, count, l.len())?;
            l.delete(index, count).map_err(engine)
        })
    }

    /// The item at `index`, if any (a nested container reads as its JSON text).
    pub fn get(&self, index: usize) -> Result<Option<Value>, DocumentError> {
        self.doc.read(|d| {
            Ok(self
                .list(d)
                .get(index)
                .map(|v| Value::from_loro(v.get_deep_value())))
        })
    }

    /// Number of items.
    pub fn len(&self) -> Result<usize, DocumentError> {
        self.doc.read(|d| Ok(self.list(d).len()))
    }

    /// True if the list is empty.
    pub fn is_empty(&self) -> Result<bool, DocumentError> {
        Ok(self.len()? == 0)
    }

    /// The whole list as JSON (`null` once deleted).
    pub fn to_json(&self) -> Result<String, DocumentError> {
        self.doc.read(|d| container_json(d, &self.id))
    }

    /// The item at `index` as JSON, if any.
    pub fn get_json(&self, index: usize) -> Result<Option<String>, DocumentError> {
        self.doc
            .read(|d| self.list(d).get(index).map(tree::json_text).transpose())
    }

    /// Inserts a JSON value at `index` as nested containers, in one operation.
    pub fn insert_json(&self, index: usize, json: &str) -> Result<(), DocumentError> {
        let value = parse_json(&self.doc, json)?;
        self.edit(|l| {
            bounds(index, l.len())?;
            tree::write(Slot::Insert(l, index), &value)
        })
    }

    /// Appends a JSON value as nested containers, in one operation.
    pub fn push_json(&self, json: &str) -> Result<(), DocumentError> {
        let value = parse_json(&self.doc, json)?;
        self.edit(|l| tree::write(Slot::Insert(l, l.len()), &value))
    }

    /// Replaces the item at `index` by a JSON value, in one operation.
    pub fn set_json(&self, index: usize, json: &str) -> Result<(), DocumentError> {
        let value = parse_json(&self.doc, json)?;
        self.edit(|l| {
            range(index, 1, l.len())?;
            l.delete(index, 1).map_err(engine)?;
            tree::write(Slot::Insert(l, index), &value)
        })
    }

    fn insert_child<C: ContainerTrait>(
        &self,
        index: Option<usize>,
        c: C,
    ) -> Result<ContainerID, DocumentError> {
        self.edit(|l| {
            let at = index.unwrap_or(l.len());
            bounds(at, l.len())?;
            Ok(l.insert_container(at, c).map_err(engine)?.id())
        })
    }

    /// Inserts an empty map at `index` (`None`: at the end) and returns it.
    pub fn insert_map(&self, index: Option<usize>) -> Result<MapHandle, DocumentError> {
        let id = self.insert_child(index, LoroMap::new())?;
        Ok(MapHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    /// Inserts an empty list at `index` (`None`: at the end) and returns it.
    pub fn insert_list(&self, index: Option<usize>) -> Result<ListHandle, DocumentError> {
        let id = self.insert_child(index, LoroList::new())?;
        Ok(ListHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    /// Inserts an empty text at `index` (`None`: at the end) and returns it.
    pub fn insert_text(&self, index: Option<usize>) -> Result<TextHandle, DocumentError> {
        let id = self.insert_child(index, LoroText::new())?;
        Ok(TextHandle {
            doc: self.doc.clone(),
            id,
            unit: self.doc.unit(),
        })
    }

    /// Inserts a counter at 0 at `index` (`None`: at the end) and returns it.
    pub fn insert_counter(&self, index: Option<usize>) -> Result<CounterHandle, DocumentError> {
        let id = self.insert_child(index, LoroCounter::new())?;
        Ok(CounterHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    fn child(&self, index: usize, kind: Kind) -> Result<Option<Handle>, DocumentError> {
        self.doc
            .read(|d| Ok(self.doc.child(self.list(d).get(index), kind)))
    }

    /// The map at `index`, if a map is there.
    pub fn get_map(&self, index: usize) -> Result<Option<MapHandle>, DocumentError> {
        Ok(self.child(index, Kind::Map)?.and_then(|h| h.into_map()))
    }

    /// The list at `index`, if a list is there.
    pub fn get_list(&self, index: usize) -> Result<Option<ListHandle>, DocumentError> {
        Ok(self.child(index, Kind::List)?.and_then(|h| h.into_list()))
    }

    /// The text at `index`, if a text is there.
    pub fn get_text(&self, index: usize) -> Result<Option<TextHandle>, DocumentError> {
        Ok(self.child(index, Kind::Text)?.and_then(|h| h.into_text()))
    }

    /// The counter at `index`, if a counter is there.
    pub fn get_counter(&self, index: usize) -> Result<Option<CounterHandle>, DocumentError> {
        Ok(self
            .child(index, Kind::Counter)?
            .and_then(|h| h.into_counter()))
    }
}
