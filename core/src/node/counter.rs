//! [`CounterHandle`]: a number that concurrent increments add up in.

use loro::{ContainerID, LoroDoc};

use crate::document::DocumentError;
use crate::node::handles::{alive, engine};
use crate::node::Document;

/// A counter: concurrent increments on several devices all count (a map value set on two
/// devices keeps one of them).
#[derive(Clone)]
pub struct CounterHandle {
    pub(crate) doc: Document,
    pub(crate) id: ContainerID,
}

impl std::fmt::Debug for CounterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CounterHandle({})", self.id)
    }
}

impl CounterHandle {
    /// Adds `by` (negative to subtract). Non-finite amounts are refused.
    pub fn increment(&self, by: f64) -> Result<(), DocumentError> {
        if !by.is_finite() {
            return Err(DocumentError::InvalidArgument(
                "non-finite numbers cannot be stored".into(),
            ));
        }
        let id = self.id.clone();
        self.doc.edit(move |d: &LoroDoc| {
            let c = d.get_counter(id);
            alive(&c)?;
            c.increment(by).map_err(engine)
        })
    }

    /// The current value.
    pub fn value(&self) -> Result<f64, DocumentError> {
        self.doc
            .read(|d| Ok(d.get_counter(self.id.clone()).get_value()))
    }
}
