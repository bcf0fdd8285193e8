//! Data-source facts (class and image counts) without ever waiting for a dataset folder:
//! a source the checker asks about is counted once, on a thread of its own, and answered
//! as unknown until then; when a count arrives the server checks the open documents again.

use deitc_lang::check::dataset::{self, SourceFacts};
use deitc_lang::ir::Source;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub enum Count {
    Counting,
    Done(SourceFacts),
}

/// The counts so far, shared by the server, the worker and the counting threads.
#[derive(Clone)]
pub struct Datasets {
    counts: Arc<Mutex<HashMap<String, Count>>>,
    /// Called when a count arrives.
    on_done: Arc<dyn Fn() + Send + Sync>,
}

impl Datasets {
    pub fn new(on_done: Arc<dyn Fn() + Send + Sync>) -> Self {
        Datasets {
            counts: Arc::new(Mutex::new(HashMap::new())),
            on_done,
        }
    }

    /// What is known of `source` now. Digits and synthetic sources are known without the
    /// disk; any other is counted in the background the first time it is asked about
    /// (`pending` is then set).
    pub fn facts(&self, source: &Source, pending: &AtomicBool) -> SourceFacts {
        if matches!(source, Source::Digits { .. } | Source::Synthetic { .. }) {
            return dataset::facts(source);
        }
        let key = format!("{source:?}");
        let Ok(mut counts) = self.counts.lock() else {
            return SourceFacts::default();
        };
        match counts.get(&key) {
            Some(Count::Done(f)) => return f.clone(),
            Some(Count::Counting) => {}
            None => {
                counts.insert(key.clone(), Count::Counting);
                let this = self.clone();
                let source = source.clone();
                let spawned = std::thread::Builder::new()
                    .name("deitc-lsp-count".into())
                    .spawn(move || {
                        let facts = dataset::facts(&source);
                        if let Ok(mut counts) = this.counts.lock() {
                            counts.insert(key, Count::Done(facts));
                        }
                        (this.on_done)();
                    });
                if spawned.is_err() {
                    return SourceFacts::default();
                }
            }
        }
        pending.store(true, Ordering::SeqCst);
        SourceFacts::default()
    }

    /// The known counts of every source counted so far, by source.
    pub fn all(&self) -> Vec<(String, Count)> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}
