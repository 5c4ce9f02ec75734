//! What changed in a document, as observers receive it: the path of each changed container
//! and what was inserted, deleted or set there, with text positions in the observer's unit.
//!
//! Loro reports text changes in Unicode scalars. To give UTF-16 or UTF-8 positions, the
//! converter keeps a copy of every text it reports on ([`Texts`]): a delete's length in
//! another unit depends on the characters deleted, which only the text as it was tells.

use std::collections::HashMap;

use loro::event::{ContainerDiff, Diff, ListDiffItem};
use loro::{Container, ContainerID, LoroDoc, LoroValue, TextDelta, ValueOrContainer};

use crate::document::path::{self, Path, PathSegment};
use crate::document::tree::json_text;
use crate::document::units::TextUnit;

/// One change at one place of a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The changed container's path from the root.
    pub path: Path,
    /// What changed there.
    pub diff: ChangeDiff,
}

/// What changed in one container. JSON values are JSON text.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeDiff {
    /// A map key was set (`value` is its new JSON) or deleted (`None`).
    MapSet {
        /// The key.
        key: String,
        /// The new value as JSON, `None` once deleted.
        value: Option<String>,
    },
    /// Items inserted into a list at `index` (after the earlier changes of the same batch).
    ListInsert {
        /// Where the first item now is.
        index: usize,
        /// Each item as JSON.
        values: Vec<String>,
    },
    /// Items deleted from a list.
    ListDelete {
        /// The first deleted item's position.
        index: usize,
        /// How many.
        count: usize,
    },
    /// Text inserted at `index` (in the observer's unit).
    TextInsert {
        /// The position in the observer's unit.
        index: usize,
        /// The inserted text.
        text: String,
    },
    /// Text deleted (positions and length in the observer's unit).
    TextDelete {
        /// The position in the observer's unit.
        index: usize,
        /// The length in the observer's unit.
        count: usize,
    },
    /// A counter changed by `delta`.
    Counter {
        /// The amount added (negative for a decrement).
        delta: f64,
    },
}

/// A text position or length in the three units: Unicode scalars, UTF-16, UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Units([usize; 3]);

impl Units {
    fn of_char(c: char) -> Units {
        Units([1, c.len_utf16(), c.len_utf8()])
    }

    fn of_str(s: &str) -> Units {
        s.chars()
            .fold(Units::default(), |a, c| a.plus(Units::of_char(c)))
    }

    fn plus(self, o: Units) -> Units {
        Units([self.0[0] + o.0[0], self.0[1] + o.0[1], self.0[2] + o.0[2]])
    }

    fn get(self, unit: TextUnit) -> usize {
        match unit {
            TextUnit::Unicode => self.0[0],
            TextUnit::Utf16 => self.0[1],
            TextUnit::Utf8 => self.0[2],
        }
    }
}

/// A change before it is given to observers: text positions in all units, and the ids of
/// the containers on its path (for observers of one container).
#[derive(Clone, Debug)]
pub(crate) struct RawChange {
    /// Containers from the root to the changed one, inclusive.
    pub(crate) containers: Vec<ContainerID>,
    path: Path,
    diff: RawDiff,
}

#[derive(Clone, Debug)]
enum RawDiff {
    Plain(ChangeDiff),
    TextInsert(Units, String),
    TextDelete(Units, Units),
}

impl RawChange {
    /// True if the change is in `container` or below it.
    pub(crate) fn under(&self, container: &ContainerID) -> bool {
        self.containers.iter().any(|c| c == container)
    }

    /// The change as an observer counting text in `unit` sees it.
    pub(crate) fn project(&self, unit: TextUnit) -> Change {
        let diff = match &self.diff {
            RawDiff::Plain(d) => d.clone(),
            RawDiff::TextInsert(at, text) => ChangeDiff::TextInsert {
                index: at.get(unit),
                text: text.clone(),
            },
            RawDiff::TextDelete(at, len) => ChangeDiff::TextDelete {
                index: at.get(unit),
                count: len.get(unit),
            },
        };
        Change {
            path: self.path.clone(),
            diff,
        }
    }
}

/// The texts as observers last saw them, by container.
#[derive(Default)]
pub(crate) struct Texts(HashMap<ContainerID, String>);

/// The reports of one event could not be computed (a text copy disagreed with Loro's
/// delta): observers must re-read.
#[derive(Debug)]
pub(crate) struct OutOfStep;

impl Texts {
    /// Copies of every text of `doc` (its state as observers start from).
    pub(crate) fn of(doc: &LoroDoc) -> Texts {
        let mut texts = Texts::default();
        if let LoroValue::Map(roots) = doc.get_value() {
            for (_, v) in roots.iter() {
                if let LoroValue::Container(id) = v {
                    if let Some(c) = doc.get_container(id.clone()) {
                        texts.walk(c);
                    }
                }
            }
        }
        texts
    }

    /// Copies every text under `c`. Iterative: a peer may nest containers deeper than any
    /// limit a recursion could afford.
    fn walk(&mut self, c: Container) {
        let mut pending = vec![c];
        while let Some(c) = pending.pop() {
            let mut children = Vec::new();
            match &c {
                Container::Text(t) => {
                    self.0.insert(t.id_(), t.to_string());
                }
                Container::Map(m) => m.for_each(|_, v| children.push(v)),
                Container::List(l) => l.for_each(|v| children.push(v)),
                Container::MovableList(l) => l.for_each(|v| children.push(v)),
                _ => {}
            }
            pending.extend(children.into_iter().filter_map(|v| match v {
                ValueOrContainer::Container(child) => Some(child),
                ValueOrContainer::Value(_) => None,
            }));
        }
    }

    /// Applies a text delta to the copy of `id` and returns its changes.
    fn apply(&mut self, id: &ContainerID, delta: &[TextDelta]) -> Result<Vec<RawDiff>, OutOfStep> {
        // A text not copied yet was created after the copies were made: it started empty.
        let old = self.0.remove(id).unwrap_or_default();
        let mut rest = old.chars();
        let mut new = String::with_capacity(old.len());
        let mut at = Units::default();
        let mut out = Vec::new();
        for d in delta {
            match d {
                TextDelta::Retain { retain, .. } => {
                    for _ in 0..*retain {
                        let c = rest.next().ok_or(OutOfStep)?;
                        new.push(c);
                        at = at.plus(Units::of_char(c));
                    }
                }
                TextDelta::Insert { insert, .. } => {
                    out.push(RawDiff::TextInsert(at, insert.clone()));
                    new.push_str(insert);
                    at = at.plus(Units::of_str(insert));
                }
                TextDelta::Delete { delete } => {
                    let mut len = Units::default();
                    for _ in 0..*delete {
                        len = len.plus(Units::of_char(rest.next().ok_or(OutOfStep)?));
                    }
                    out.push(RawDiff::TextDelete(at, len));
                }
            }
        }
        new.push_str(rest.as_str());
        self.0.insert(id.clone(), new);
        Ok(out)
    }
}

/// A small extension: the id of a text handle.
trait TextId {
    fn id_(&self) -> ContainerID;
}

impl TextId for loro::LoroText {
    fn id_(&self) -> ContainerID {
        loro::ContainerTrait::id(self)
    }
}

/// JSON text of a value or of a container as the live document holds it now.
pub(crate) fn live_json(v: &ValueOrContainer) -> String {
    json_text(v.clone()).unwrap_or_else(|_| "null".to_string())
}

/// One container's diff, with where the container is.
pub(crate) struct Located<'a> {
    /// The changed container.
    pub(crate) target: &'a ContainerID,
    /// Containers from the root to it (inclusive, or without it: it is added).
    pub(crate) containers: Vec<ContainerID>,
    /// Its path.
    pub(crate) path: Path,
    /// What changed.
    pub(crate) diff: &'a Diff<'a>,
}

/// A container diff of a Loro event, located.
pub(crate) fn located<'a>(d: &'a ContainerDiff<'a>) -> Located<'a> {
    Located {
        target: d.target,
        containers: d.path.iter().map(|(c, _)| c.clone()).collect(),
        path: path::from_loro_steps(d.path.iter().map(|(_, i)| i)),
        diff: &d.diff,
    }
}

/// The changes of one event (or one diff between versions): every container diff, except
/// those inside a container the same event inserts, whose content its insertion already
/// reports (as JSON, from `json`). Texts are still tracked for those.
pub(crate) fn of_event(
    texts: &mut Texts,
    diffs: Vec<Located<'_>>,
    json: &dyn Fn(&ValueOrContainer) -> String,
) -> Result<Vec<RawChange>, OutOfStep> {
    let mut created: std::collections::HashSet<ContainerID> = std::collections::HashSet::new();
    for d in &diffs {
        let mut note = |v: &ValueOrContainer| {
            if let ValueOrContainer::Container(c) = v {
                created.insert(loro::ContainerTrait::id(c));
            }
        };
        match d.diff {
            Diff::Map(m) => m.updated.values().flatten().for_each(&mut note),
            Diff::List(items) => {
                for item in items {
                    if let ListDiffItem::Insert { insert, .. } = item {
                        insert.iter().for_each(&mut note);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in diffs {
        let inside_new = d
            .containers
            .iter()
            .chain([d.target])
            .any(|c| created.contains(c));
        let changes = of_diff(texts, d, json)?;
        if !inside_new {
            out.extend(changes);
        }
    }
    Ok(out)
}

/// The changes of one located diff.
fn of_diff(
    texts: &mut Texts,
    d: Located<'_>,
    json: &dyn Fn(&ValueOrContainer) -> String,
) -> Result<Vec<RawChange>, OutOfStep> {
    let Located {
        target,
        mut containers,
        path,
        diff,
    } = d;
    if containers.last() != Some(target) {
        containers.push(target.clone());
    }
    let diffs: Vec<RawDiff> = match diff {
        Diff::Map(m) => {
            let mut keys: Vec<_> = m.updated.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            keys.into_iter()
                .map(|(k, v)| {
                    RawDiff::Plain(ChangeDiff::MapSet {
                        key: k.to_string(),
                        value: v.as_ref().map(json),
                    })
                })
                .collect()
        }
        Diff::List(items) => {
            let mut index = 0;
            let mut out = Vec::new();
            for item in items {
                match item {
                    ListDiffItem::Retain { retain } => index += retain,
                    ListDiffItem::Insert { insert, .. } => {
                        out.push(RawDiff::Plain(ChangeDiff::ListInsert {
                            index,
                            values: insert.iter().map(json).collect(),
                        }));
                        index += insert.len();
                    }
                    ListDiffItem::Delete { delete } => {
                        out.push(RawDiff::Plain(ChangeDiff::ListDelete {
                            index,
                            count: *delete,
                        }))
                    }
                }
            }
            out
        }
        Diff::Text(delta) => texts.apply(target, delta)?,
        Diff::Counter(delta) => vec![RawDiff::Plain(ChangeDiff::Counter { delta: *delta })],
        Diff::Tree(_) | Diff::Unknown => Vec::new(),
    };
    Ok(diffs
        .into_iter()
        .map(|diff| RawChange {
            containers: containers.clone(),
            path: path.clone(),
            diff,
        })
        .collect())
}

/// The path segments of a container that is not reachable any more (deleted): its id.
pub(crate) fn detached_path(id: &ContainerID) -> Path {
    vec![PathSegment::Key(id.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use loro::LoroMap;
    use std::sync::{Arc, Mutex};

    /// Every change of every event of `doc`, as `unit` counts text.
    fn record(doc: &LoroDoc, unit: TextUnit) -> (Arc<Mutex<Vec<Change>>>, loro::Subscription) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let texts = Arc::new(Mutex::new(Texts::of(doc)));
        let out = seen.clone();
        let sub = doc.subscribe_root(Arc::new(move |e| {
            let mut texts = texts.lock().unwrap();
            let diffs = e.events.iter().map(located).collect();
            for c in of_event(&mut texts, diffs, &live_json).unwrap() {
                out.lock().unwrap().push(c.project(unit));
            }
        }));
        (seen, sub)
    }

    #[test]
    fn text_changes_count_in_the_observers_unit() {
        let doc = LoroDoc::new();
        let t = doc.get_text("notes");
        t.insert(0, "a😀b").unwrap();
        doc.commit();
        let (seen, _sub) = record(&doc, TextUnit::Utf16);
        t.insert(2, "é").unwrap(); // after the emoji: Unicode 2, UTF-16 3
        doc.commit();
        t.delete(1, 1).unwrap(); // the emoji: UTF-16 length 2
        doc.commit();
        let seen = seen.lock().unwrap().clone();
        let p = vec![PathSegment::Key("notes".into())];
        assert_eq!(
            seen,
            vec![
                Change {
                    path: p.clone(),
                    diff: ChangeDiff::TextInsert {
                        index: 3,
                        text: "é".into()
                    }
                },
                Change {
                    path: p,
                    diff: ChangeDiff::TextDelete { index: 1, count: 2 }
                },
            ]
        );
    }

    #[test]
    fn nested_changes_carry_their_path() {
        let doc = LoroDoc::new();
        let list = doc.get_list("households");
        let rec = list.push_container(LoroMap::new()).unwrap();
        doc.commit();
        let (seen, _sub) = record(&doc, TextUnit::Unicode);
        rec.insert("size", 4).unwrap();
        list.insert(0, "first").unwrap();
        doc.commit();
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains(&Change {
            path: vec![PathSegment::Key("households".into())],
            diff: ChangeDiff::ListInsert {
                index: 0,
                values: vec!["\"first\"".into()]
            }
        }));
        assert!(seen.iter().any(|c| c.diff
            == ChangeDiff::MapSet {
                key: "size".into(),
                value: Some("4".into())
            }
            && c.path.first() == Some(&PathSegment::Key("households".into()))
            && c.path.len() == 2));
    }
}
