//! The main loop: the protocol's life cycle (initialize, shutdown, exit), the open
//! documents (an overlay of what the editor holds, incremental edits), and one handler per
//! request. Requests are answered here from the current text; checks run on the worker.

use crate::datasets::Datasets;
use crate::diagnostics::{DocsLink, Locator};
use crate::sites::{self, Site};
use crate::text::{apply_changes, LineIndex};
use crate::worker::{self, Job, Worker};
use crossbeam_channel::{select, unbounded, Sender};
use deitc_lang::check::BuildFacts;
use deitc_lang::query::{resolve, with_overlay, Overlay, Resolution};
use deitc_lang::syntax::{ast, parse_recipe};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response, ResponseError};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CompletionOptions,
    HoverProviderCapability, InitializeParams, OneOf, PositionEncodingKind, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Url,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the server is set up (the command line passes what it knows of the build).
#[derive(Debug, Clone)]
pub struct Config {
    pub build: BuildFacts,
    /// The quiet period after an edit before checking (`initializationOptions.debounceMs`).
    pub debounce: Duration,
}

impl Config {
    pub fn new(build: BuildFacts) -> Self {
        Config {
            build,
            debounce: Duration::from_millis(5),
        }
    }
}

struct Document {
    text: String,
    version: i32,
    path: PathBuf,
}

struct Server {
    docs: HashMap<Url, Document>,
    out: Sender<Message>,
    jobs: Sender<worker::Request>,
    datasets: Datasets,
    /// Bumped by every edit; a cached resolution is for one generation.
    generation: u64,
    resolved: Option<(Url, u64, Arc<Resolution>)>,
}

/// Serves `connection` until `exit`; returns the exit code (0 when `shutdown` came first).
pub fn serve(connection: Connection, mut config: Config) -> u8 {
    let Some(options) = initialize(&connection) else {
        return 1;
    };
    if let Some(ms) = options
        .get("debounceMs")
        .and_then(serde_json::Value::as_u64)
    {
        config.debounce = Duration::from_millis(ms.min(2000));
    }
    let docs = DocsLink::new(
        options
            .get("diagnosticsDocs")
            .and_then(|v| v.as_str())
            .map(str::to_string),
    );
    let (recheck_tx, recheck_rx) = unbounded::<()>();
    let datasets = Datasets::new(Arc::new(move || {
        let _ = recheck_tx.send(());
    }));
    let (jobs, job_rx) = unbounded();
    let worker = Worker::new(
        config.build.clone(),
        docs,
        config.debounce,
        datasets.clone(),
        connection.sender.clone(),
    );
    let worker = std::thread::Builder::new()
        .name("deitc-lsp-check".into())
        .spawn(move || worker.run(&job_rx));
    if worker.is_err() {
        return 1;
    }
    let mut server = Server {
        docs: HashMap::new(),
        out: connection.sender.clone(),
        jobs,
        datasets,
        generation: 0,
        resolved: None,
    };
    let mut shutdown = false;
    loop {
        select! {
            recv(connection.receiver) -> msg => {
                let Ok(msg) = msg else { return 1 };
                match msg {
                    Message::Request(req) => {
                        let id = req.id.clone();
                        let response = if shutdown {
                            error(id, ErrorCode::InvalidRequest, "the server is shutting down")
                        } else if req.method == "shutdown" {
                            shutdown = true;
                            Response::new_ok(id, serde_json::Value::Null)
                        } else if req.method == "initialize" {
                            error(id, ErrorCode::InvalidRequest, "already initialized")
                        } else {
                            let run = std::panic::AssertUnwindSafe(|| server.request(req));
                            std::panic::catch_unwind(run).unwrap_or_else(|_| {
                                error(id, ErrorCode::InternalError, "internal error (a bug in deitc lsp)")
                            })
                        };
                        let _ = server.out.send(Message::Response(response));
                    }
                    Message::Notification(n) => {
                        if n.method == "exit" {
                            return if shutdown { 0 } else { 1 };
                        }
                        if !shutdown {
                            let run = std::panic::AssertUnwindSafe(|| server.notification(n));
                            let _ = std::panic::catch_unwind(run);
                        }
                    }
                    Message::Response(_) => {}
                }
            },
            recv(recheck_rx) -> _ => server.check_all(None),
        }
    }
}

fn error(id: lsp_server::RequestId, code: ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

/// Waits for `initialize` and answers it; returns the client's `initializationOptions`.
/// Requests before it are refused as the protocol says; `exit` ends the server.
fn initialize(connection: &Connection) -> Option<serde_json::Map<String, serde_json::Value>> {
    loop {
        match connection.receiver.recv().ok()? {
            Message::Request(req) if req.method == "initialize" => {
                let params: InitializeParams = match serde_json::from_value(req.params) {
                    Ok(p) => p,
                    Err(e) => {
                        let r = error(req.id, ErrorCode::InvalidParams, &e.to_string());
                        connection.sender.send(r.into()).ok()?;
                        continue;
                    }
                };
                let result = serde_json::json!({
                    "capabilities": capabilities(),
                    "serverInfo": ServerInfo {
                        name: "deitc".into(),
                        version: Some(env!("CARGO_PKG_VERSION").into()),
                    },
                });
                connection
                    .sender
                    .send(Response::new_ok(req.id, result).into())
                    .ok()?;
                let options = params
                    .initialization_options
                    .and_then(|o| o.as_object().cloned())
                    .unwrap_or_default();
                return Some(options);
            }
            Message::Request(req) => {
                let r = error(req.id, ErrorCode::ServerNotInitialized, "not initialized");
                connection.sender.send(r.into()).ok()?;
            }
            Message::Notification(n) if n.method == "exit" => return None,
            _ => {}
        }
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(
                [".", "\"", "/", "(", "="]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// The request's parameters as `R`'s, or the protocol's "invalid params" error.
fn params<R: lsp_types::request::Request>(req: Request) -> Result<R::Params, ResponseError> {
    serde_json::from_value(req.params).map_err(|e| ResponseError {
        code: ErrorCode::InvalidParams as i32,
        message: format!("{}: {e}", R::METHOD),
        data: None,
    })
}

/// What a position request is about: the document, its resolution, the offset.
struct Here {
    res: Arc<Resolution>,
    offset: usize,
    sites: Vec<Site>,
    path: PathBuf,
}

impl Server {
    fn request(&mut self, req: Request) -> Response {
        use lsp_types::request::*;
        let id = req.id.clone();
        let result: Result<serde_json::Value, ResponseError> = match req.method.as_str() {
            HoverRequest::METHOD => params::<HoverRequest>(req).map(|p| {
                let pos = p.text_document_position_params;
                let here = self.here(&pos.text_document.uri, pos.position);
                let hover = here
                    .and_then(|h| crate::hover::hover(&h.res, &h.sites, h.offset, &self.datasets));
                serde_json::to_value(hover).unwrap_or_default()
            }),
            Completion::METHOD => params::<Completion>(req).map(|p| {
                let pos = p.text_document_position;
                let items = self.docs.get(&pos.text_document.uri).map(|d| {
                    let offset = LineIndex::new(&d.text).offset(&d.text, pos.position);
                    crate::complete::complete(&d.text, offset, &d.path)
                });
                serde_json::to_value(items).unwrap_or_default()
            }),
            GotoDefinition::METHOD => params::<GotoDefinition>(req).map(|p| {
                let pos = p.text_document_position_params;
                let here = self.here(&pos.text_document.uri, pos.position);
                let found = here
                    .and_then(|h| crate::navigate::definition(&h.res, &h.sites, h.offset, &h.path));
                serde_json::to_value(found).unwrap_or_default()
            }),
            References::METHOD => params::<References>(req).map(|p| {
                let pos = p.text_document_position;
                let here = self.here(&pos.text_document.uri, pos.position);
                let found = here.map(|h| {
                    crate::navigate::references(
                        &h.res,
                        &h.sites,
                        h.offset,
                        p.context.include_declaration,
                    )
                });
                serde_json::to_value(found).unwrap_or_default()
            }),
            Formatting::METHOD => params::<Formatting>(req).map(|p| {
                let edits = self.format(&p.text_document.uri);
                serde_json::to_value(edits).unwrap_or_default()
            }),
            CodeActionRequest::METHOD => params::<CodeActionRequest>(req).map(|p| {
                let actions = crate::actions::actions(&p.text_document.uri, &p.context.diagnostics);
                serde_json::to_value(actions).unwrap_or_default()
            }),
            DocumentSymbolRequest::METHOD => params::<DocumentSymbolRequest>(req).map(|p| {
                let symbols = self.outline(&p.text_document.uri);
                serde_json::to_value(symbols).unwrap_or_default()
            }),
            other => Err(ResponseError {
                code: ErrorCode::MethodNotFound as i32,
                message: format!("unknown method `{other}`"),
                data: None,
            }),
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => Response::new_err(id, e.code, e.message),
        }
    }

    fn notification(&mut self, n: Notification) {
        use lsp_types::notification::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return;
                };
                let doc = p.text_document;
                let Ok(path) = doc.uri.to_file_path() else {
                    return;
                };
                self.docs.insert(
                    doc.uri.clone(),
                    Document {
                        text: doc.text,
                        version: doc.version,
                        path,
                    },
                );
                self.check_all(Some(doc.uri));
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return;
                };
                let uri = p.text_document.uri;
                let Some(doc) = self.docs.get_mut(&uri) else {
                    return;
                };
                apply_changes(&mut doc.text, p.content_changes);
                doc.version = p.text_document.version;
                self.check_all(Some(uri));
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return;
                };
                let uri = p.text_document.uri;
                if self.docs.remove(&uri).is_some() {
                    let _ = self.jobs.send(worker::Request::Closed(uri));
                    self.check_all(None);
                }
            }
            _ => {}
        }
    }

    /// Queues a check of every open document, `first` last (so that it is checked first).
    fn check_all(&mut self, first: Option<Url>) {
        self.generation += 1;
        let since = Instant::now();
        let texts: Arc<Vec<(PathBuf, Arc<str>)>> = Arc::new(
            self.docs
                .values()
                .map(|d| (d.path.clone(), Arc::from(d.text.as_str())))
                .collect(),
        );
        let mut order: Vec<&Url> = self
            .docs
            .keys()
            .filter(|u| Some(*u) != first.as_ref())
            .collect();
        order.extend(first.as_ref().filter(|u| self.docs.contains_key(*u)));
        for uri in order {
            let Some(d) = self.docs.get(uri) else {
                continue;
            };
            let job = Job {
                uri: uri.clone(),
                path: d.path.clone(),
                version: d.version,
                texts: texts.clone(),
                since,
            };
            let _ = self.jobs.send(worker::Request::Check(job));
        }
    }

    fn overlay(&self) -> Arc<Overlay> {
        let mut o = Overlay::new();
        for d in self.docs.values() {
            o.insert(&d.path, d.text.as_str());
        }
        Arc::new(o)
    }

    /// The resolution of `uri` for the current texts (cached until the next edit).
    fn resolution(&mut self, uri: &Url) -> Option<Arc<Resolution>> {
        if let Some((u, g, r)) = &self.resolved {
            if u == uri && *g == self.generation {
                return Some(r.clone());
            }
        }
        let path = self.docs.get(uri)?.path.clone();
        let overlay = self.overlay();
        let res = Arc::new(with_overlay(overlay, || resolve(&path)));
        self.resolved = Some((uri.clone(), self.generation, res.clone()));
        Some(res)
    }

    fn here(&mut self, uri: &Url, pos: lsp_types::Position) -> Option<Here> {
        let res = self.resolution(uri)?;
        let root = res.root?;
        let text = res.map.text(root);
        let offset = LineIndex::new(text).offset(text, pos);
        let file = parse_recipe(&res.map, root).ok()?;
        let sites = sites::sites(&file);
        let path = self.docs.get(uri)?.path.clone();
        Some(Here {
            res,
            offset,
            sites,
            path,
        })
    }

    /// `deitc fmt` of the document, as one edit (none when it does not parse).
    fn format(&mut self, uri: &Url) -> Option<Vec<TextEdit>> {
        let doc = self.docs.get(uri)?;
        let mut map = deitc_lang::source::SourceMap::new();
        let text = deitc_lang::source::normalize(doc.text.clone());
        let id = map.add(
            doc.path.display().to_string(),
            text,
            deitc_lang::source::SourceKind::Default,
        );
        let file = parse_recipe(&map, id).ok()?;
        let formatted = deitc_lang::syntax::format::format(&file, map.text(id));
        if formatted == doc.text {
            return Some(Vec::new());
        }
        let index = LineIndex::new(&doc.text);
        let range = index.range(&doc.text, 0, doc.text.len());
        Some(vec![TextEdit::new(range, formatted)])
    }

    fn outline(&mut self, uri: &Url) -> Option<Vec<lsp_types::DocumentSymbol>> {
        let doc = self.docs.get(uri)?;
        let mut map = deitc_lang::source::SourceMap::new();
        let id = map.add(
            doc.path.display().to_string(),
            deitc_lang::source::normalize(doc.text.clone()),
            deitc_lang::source::SourceKind::Default,
        );
        let file: ast::File = parse_recipe(&map, id).ok()?;
        let mut loc = Locator::new(&map);
        Some(crate::outline::symbols(&file, &mut loc))
    }
}
