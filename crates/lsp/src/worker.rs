//! Checking on a thread of its own. Each edit queues a check of every open document (a
//! base's edit changes what extends it); the worker waits for a short quiet period, keeps
//! only the latest request per document, checks, and publishes, unless a newer request for
//! that document came in meanwhile: what is published is never older than the last edit.
//! Diagnostics land on every file they are about (bases too), merged over the documents
//! whose checks reached that file.

use crate::datasets::Datasets;
use crate::diagnostics::{self, DocsLink};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use deitc_lang::check::BuildFacts;
use deitc_lang::diag::Code;
use deitc_lang::query::{with_overlay, Overlay};
use lsp_server::{Message, Notification};
use lsp_types::{Diagnostic, PublishDiagnosticsParams, Url};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One document to check, against a snapshot of every open text.
#[derive(Clone)]
pub struct Job {
    pub uri: Url,
    pub path: PathBuf,
    pub version: i32,
    pub texts: Arc<Vec<(PathBuf, Arc<str>)>>,
    /// When the edit that asked for it arrived.
    pub since: Instant,
}

pub enum Request {
    Check(Job),
    /// The document was closed: drop what it published.
    Closed(Url),
}

pub struct Worker {
    pub build: BuildFacts,
    pub docs: DocsLink,
    pub debounce: Duration,
    pub datasets: Datasets,
    pub out: Sender<Message>,
    /// For each file, the diagnostics each checked document found in it.
    found: HashMap<Url, BTreeMap<Url, Vec<Diagnostic>>>,
    /// Versions of open documents, for publishing on them.
    versions: HashMap<Url, i32>,
}

impl Worker {
    pub fn new(
        build: BuildFacts,
        docs: DocsLink,
        debounce: Duration,
        datasets: Datasets,
        out: Sender<Message>,
    ) -> Self {
        Worker {
            build,
            docs,
            debounce,
            datasets,
            out,
            found: HashMap::new(),
            versions: HashMap::new(),
        }
    }

    /// Runs until the server drops its end of `requests`.
    pub fn run(mut self, requests: &Receiver<Request>) {
        let mut pending: Vec<Request> = Vec::new();
        loop {
            if pending.is_empty() {
                match requests.recv() {
                    Ok(r) => pending.push(r),
                    Err(_) => return,
                }
            }
            // The quiet period: take whatever else arrives before it ends.
            loop {
                match requests.recv_timeout(self.debounce) {
                    Ok(r) => pending.push(r),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let mut jobs = latest(std::mem::take(&mut pending), &mut |uri| self.closed(uri));
            while let Some(job) = jobs.pop() {
                let found = self.check(&job);
                // A newer request for this document makes this result stale.
                while let Ok(r) = requests.try_recv() {
                    pending.push(r);
                }
                let newer = pending.iter().any(|r| match r {
                    Request::Check(j) => j.uri == job.uri,
                    Request::Closed(u) => *u == job.uri,
                });
                if !newer {
                    self.publish(&job, found);
                }
                if !pending.is_empty() {
                    // Requeue the rest behind the newer requests.
                    pending.extend(jobs.drain(..).map(Request::Check));
                    break;
                }
            }
        }
    }

    /// The diagnostics of one document's check, by file.
    fn check(&self, job: &Job) -> BTreeMap<PathBuf, Vec<Diagnostic>> {
        let pending = Arc::new(AtomicBool::new(false));
        let mut overlay = Overlay::new();
        for (p, t) in job.texts.iter() {
            overlay.insert(p, t.clone());
        }
        let datasets = self.datasets.clone();
        let flag = pending.clone();
        let overlay = overlay.with_datasets(Arc::new(move |s| datasets.facts(s, &flag)));
        let path = job.path.clone();
        let build = self.build.clone();
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            with_overlay(Arc::new(overlay), || {
                deitc_lang::check::check(&path, &[], &build)
            })
        }));
        let Ok(mut checked) = checked else {
            return BTreeMap::new();
        };
        // While a dataset is being counted its classes are unknown: no error for that.
        if pending.load(std::sync::atomic::Ordering::SeqCst) {
            checked
                .diags
                .items
                .retain(|d| d.code() != Code::RuleClassesUnknown);
        }
        diagnostics::by_file(&checked, &job.path, &self.docs)
    }

    fn publish(&mut self, job: &Job, found: BTreeMap<PathBuf, Vec<Diagnostic>>) {
        self.versions.insert(job.uri.clone(), job.version);
        let mut touched: HashSet<Url> = HashSet::new();
        for (file, per) in self.found.iter_mut() {
            if per.remove(&job.uri).is_some() {
                touched.insert(file.clone());
            }
        }
        for (path, list) in found {
            let Ok(uri) = Url::from_file_path(&path) else {
                continue;
            };
            self.found
                .entry(uri.clone())
                .or_default()
                .insert(job.uri.clone(), list);
            touched.insert(uri);
        }
        for uri in touched {
            self.send(&uri);
        }
        if std::env::var_os("DEITC_LSP_TIMING").is_some() {
            let ms = job.since.elapsed().as_secs_f64() * 1e3;
            let _ = self.out.send(Message::Notification(Notification::new(
                "window/logMessage".into(),
                serde_json::json!({"type": 4, "message": format!("deitc: diagnostics of {} v{} in {ms:.2} ms", job.uri, job.version)}),
            )));
        }
    }

    fn closed(&mut self, uri: &Url) {
        self.versions.remove(uri);
        let mut touched = vec![uri.clone()];
        for (file, per) in self.found.iter_mut() {
            if per.remove(uri).is_some() {
                touched.push(file.clone());
            }
        }
        for u in touched {
            self.send(&u);
        }
    }

    /// Publishes the merged diagnostics of `uri`.
    fn send(&mut self, uri: &Url) {
        let mut all: Vec<Diagnostic> = Vec::new();
        if let Some(per) = self.found.get(uri) {
            for list in per.values() {
                for d in list {
                    if all.len() < diagnostics::MAX_PER_FILE && !all.contains(d) {
                        all.push(d.clone());
                    }
                }
            }
        }
        if all.is_empty() {
            self.found.remove(uri);
        }
        let params = PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics: all,
            version: self.versions.get(uri).copied(),
        };
        let _ = self.out.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )));
    }
}

/// The latest check per document, in arrival order (the last to arrive is popped first);
/// a close handled on the way.
fn latest(requests: Vec<Request>, closed: &mut dyn FnMut(&Url)) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    for r in requests {
        match r {
            Request::Check(j) => {
                jobs.retain(|o| o.uri != j.uri);
                jobs.push(j);
            }
            Request::Closed(u) => {
                jobs.retain(|o| o.uri != u);
                closed(&u);
            }
        }
    }
    jobs
}
