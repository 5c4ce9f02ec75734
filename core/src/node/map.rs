//! [`MapHandle`]: a collaborative map from string keys to values and nested containers.

use loro::{ContainerID, ContainerTrait, LoroCounter, LoroDoc, LoroList, LoroMap, LoroText};

use crate::document::tree::{self, Slot};
use crate::document::{DocumentError, Value};
use crate::node::handles::{alive, check_name, container_json, engine, parse_json, Kind};
use crate::node::{CounterHandle, Document, ListHandle, TextHandle};

/// A collaborative map: string keys to scalar values or nested containers (maps, lists,
/// texts, counters). Setting a key on two devices concurrently keeps one value on every
/// replica (the later by Lamport time).
#[derive(Clone)]
pub struct MapHandle {
    pub(crate) doc: Document,
    pub(crate) id: ContainerID,
}

impl std::fmt::Debug for MapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MapHandle({})", self.id)
    }
}

impl MapHandle {
    fn map(&self, d: &LoroDoc) -> LoroMap {
        d.get_map(self.id.clone())
    }

    /// Runs an edit of the map (refused once it was deleted).
    fn edit<T>(
        &self,
        f: impl FnOnce(&LoroMap) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let id = self.id.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let m = d.get_map(id);
            alive(&m)?;
            f(&m)
        })
    }

    /// Sets `key` to a scalar `value`.
    pub fn set(&self, key: &str, value: Value) -> Result<(), DocumentError> {
        check_name("key", key)?;
        if let Value::String(s) = &value {
            self.doc.check_size(s.len())?;
        }
        let v = value.into_loro()?;
        self.edit(|m| m.insert(key, v).map_err(engine))
    }

    /// Removes `key` (no-op if absent). A container under it is deleted with everything in
    /// it; concurrent edits inside it on other devices are kept in the history but stay
    /// invisible.
    pub fn delete(&self, key: &str) -> Result<(), DocumentError> {
        check_name("key", key)?;
        self.edit(|m| m.delete(key).map_err(engine))
    }

    /// The value at `key`, if any (a nested container reads as its JSON text).
    pub fn get(&self, key: &str) -> Result<Option<Value>, DocumentError> {
        self.doc.read(|d| {
            Ok(self
                .map(d)
                .get(key)
                .map(|v| Value::from_loro(v.get_deep_value())))
        })
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>, DocumentError> {
        self.doc.read(|d| {
            let mut keys: Vec<String> = self.map(d).keys().map(|k| k.to_string()).collect();
            keys.sort();
            Ok(keys)
        })
    }

    /// Number of keys.
    pub fn len(&self) -> Result<usize, DocumentError> {
        self.doc.read(|d| Ok(self.map(d).len()))
    }

    /// True if the map has no keys.
    pub fn is_empty(&self) -> Result<bool, DocumentError> {
        Ok(self.len()? == 0)
    }

    /// The whole map as JSON (`null` once deleted).
    pub fn to_json(&self) -> Result<String, DocumentError> {
        self.doc.read(|d| container_json(d, &self.id))
    }

    /// The value at `key` as JSON, if any.
    pub fn get_json(&self, key: &str) -> Result<Option<String>, DocumentError> {
        self.doc
            .read(|d| self.map(d).get(key).map(tree::json_text).transpose())
    }

    /// Writes a JSON value at `key` as nested containers (objects as maps, arrays as
    /// lists, strings as plain strings), replacing what was there, in one operation.
    pub fn set_json(&self, key: &str, json: &str) -> Result<(), DocumentError> {
        check_name("key", key)?;
        let value = parse_json(&self.doc, json)?;
        self.edit(|m| tree::write(Slot::Key(m, key), &value))
    }

    fn insert_child<C: ContainerTrait>(
        &self,
        key: &str,
        c: C,
    ) -> Result<ContainerID, DocumentError> {
        check_name("key", key)?;
        self.edit(|m| Ok(m.insert_container(key, c).map_err(engine)?.id()))
    }

    /// Creates an empty map at `key` (replacing what was there) and returns it.
    pub fn insert_map(&self, key: &str) -> Result<MapHandle, DocumentError> {
        let id = self.insert_child(key, LoroMap::new())?;
        Ok(MapHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    /// Creates an empty list at `key` and returns it.
    pub fn insert_list(&self, key: &str) -> Result<ListHandle, DocumentError> {
        let id = self.insert_child(key, LoroList::new())?;
        Ok(ListHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    /// Creates an empty text at `key` and returns it.
    pub fn insert_text(&self, key: &str) -> Result<TextHandle, DocumentError> {
        let id = self.insert_child(key, LoroText::new())?;
        Ok(TextHandle {
            doc: self.doc.clone(),
            id,
            unit: self.doc.unit(),
        })
    }

    /// Creates a counter at 0 at `key` and returns it.
    pub fn insert_counter(&self, key: &str) -> Result<CounterHandle, DocumentError> {
        let id = self.insert_child(key, LoroCounter::new())?;
        Ok(CounterHandle {
            doc: self.doc.clone(),
            id,
        })
    }

    fn child(&self, key: &str, kind: Kind) -> Result<Option<crate::node::Handle>, DocumentError> {
        self.doc
            .read(|d| Ok(self.doc.child(self.map(d).get(key), kind)))
    }

    /// The map at `key`, if a map is there.
    pub fn get_map(&self, key: &str) -> Result<Option<MapHandle>, DocumentError> {
        Ok(self.child(key, Kind::Map)?.and_then(|h| h.into_map()))
    }

    /// The list at `key`, if a list is there.
    pub fn get_list(&self, key: &str) -> Result<Option<ListHandle>, DocumentError> {
        Ok(self.child(key, Kind::List)?.and_then(|h| h.into_list()))
    }

    /// The text at `key`, if a text is there.
    pub fn get_text(&self, key: &str) -> Result<Option<TextHandle>, DocumentError> {
        Ok(self.child(key, Kind::Text)?.and_then(|h| h.into_text()))
    }

    /// The counter at `key`, if a counter is there.
    pub fn get_counter(&self, key: &str) -> Result<Option<CounterHandle>, DocumentError> {
        Ok(self
            .child(key, Kind::Counter)?
            .and_then(|h| h.into_counter()))
    }
}
