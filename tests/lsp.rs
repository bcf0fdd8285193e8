//! `deitc lsp` driven over stdio as an editor would: initialize, open a broken recipe that
//! extends a base, get coded diagnostics, hover, complete, go to definition, find references,
//! format, apply quick fixes, edit incrementally, edit an unsaved base, shut down. Then
//! hostile input and malformed JSON-RPC. Every wait has a deadline, so a hang fails.
//!
//! `cargo test --test lsp -- --ignored --nocapture` also measures the time from an edit to
//! its diagnostics on a shipped recipe with its bases.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// A running `deitc lsp`, killed when dropped.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    /// Notifications read while waiting for something else.
    backlog: Vec<Value>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_deitc"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("deitc lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("Content-Length")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("the server writes JSON");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin,
            messages: rx,
            next_id: 1,
            backlog: Vec::new(),
        }
    }

    fn send_raw(&mut self, body: &str) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        let m = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.send_raw(&m.to_string());
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let m = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(&m.to_string());
        id
    }

    /// The next message that satisfies `want`, keeping the others.
    fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i);
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(v) => self.backlog.push(v),
                Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server ended waiting for {what}")
                }
            }
        }
    }

    fn response(&mut self, id: i64) -> Value {
        self.wait(&format!("the response to {id}"), |v| v["id"] == json!(id))
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let r = self.response(id);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// The diagnostics published for `uri` at `version` (for an open document) or any.
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let v = self.wait(&format!("diagnostics of {uri} v{version:?}"), |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == json!(v))
        });
        v["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn initialize(&mut self, root: &Path) {
        let r = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "capabilities": {},
                "initializationOptions": {"debounceMs": 1},
            }),
        );
        assert_eq!(
            r["capabilities"]["textDocumentSync"],
            json!(2),
            "incremental sync"
        );
        self.notify("initialized", json!({}));
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r, Value::Null);
        self.notify("exit", Value::Null);
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit after shutdown is 0: {status}");
                return;
            }
            assert!(Instant::now() < end, "the server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("deitc-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The protocol position of the first `needle` in `text`, `plus` characters into it.
fn pos(text: &str, needle: &str, plus: usize) -> Value {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in the text"))
        + plus;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": col})
}

fn codes(diags: &[Value]) -> Vec<String> {
    diags
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_string())
        .collect()
}

const BASE: &str = "model {\n    embed = 64\n    depth = 2\n    heads = 2\n    patch = 4\n    image = 16\n}\ndata {\n    train = synthetic()\n    val = synthetic()\n}\ntrain.batch = 64\n";

#[test]
fn an_editing_session() {
    let dir = temp_dir("session");
    let base = dir.join("base.deit");
    std::fs::write(&base, BASE).expect("write base");
    // The recipe being edited exists only in the editor.
    let child = dir.join("child.deit");
    let (base_uri, child_uri) = (uri(&base), uri(&child));
    let text = "extends \"base.deit\"\nmodel.embd = 64\noptimizer.lr = 5e-4 * train.batch / 512\n";

    let mut s = Server::start();
    s.initialize(&dir);
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": child_uri, "languageId": "deit", "version": 1, "text": text}}),
    );
    let diags = s.diagnostics(&child_uri, Some(1));
    assert_eq!(codes(&diags), ["deit::schema::unknown_field"], "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "deitc");
    assert_eq!(d["range"]["start"], pos(text, "embd", 0));
    assert!(d["message"].as_str().unwrap_or("").contains("help:"), "{d}");
    let href = d["codeDescription"]["href"].as_str().unwrap_or("");
    assert!(
        href.ends_with("diagnostics.md#deitschemaunknown_field"),
        "{href}"
    );

    // The did-you-mean as a quick fix.
    let actions = s.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": child_uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
    );
    let edit = &actions[0]["edit"]["changes"][&child_uri][0];
    assert_eq!(actions[0]["kind"], "quickfix");
    assert_eq!(edit["newText"], "embed");
    assert_eq!(edit["range"], d["range"]);

    // Hover: a reference's value and where it was set; a computed value's formula.
    let hover = s.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": child_uri}, "position": pos(text, "train.batch", 7)}),
    );
    let h = hover["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(h.contains("`64`") && h.contains("base.deit:12"), "{h}");
    let hover = s.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": child_uri}, "position": pos(text, "lr", 1)}),
    );
    let h = hover["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        h.contains("5e-4 * train.batch / 512") && h.contains("6.25e-5"),
        "{h}"
    );
    assert!(
        h.contains("Peak learning rate") && h.contains("child.deit:3"),
        "{h}"
    );

    // Go to definition: the reference to the base's statement, `extends` to the file.
    let def = s.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": child_uri}, "position": pos(text, "train.batch", 2)}),
    );
    assert_eq!(def["uri"], base_uri);
    assert_eq!(def["range"]["start"], pos(BASE, "train.batch", 0));
    let def = s.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": child_uri}, "position": pos(text, "base.deit", 2)}),
    );
    assert_eq!(def["uri"], base_uri);
    let refs = s.request(
        "textDocument/references",
        json!({"textDocument": {"uri": child_uri}, "position": pos(text, "train.batch", 2), "context": {"includeDeclaration": true}}),
    );
    let files: Vec<&str> = refs.as_array().map_or(Vec::new(), |r| {
        r.iter().filter_map(|l| l["uri"].as_str()).collect()
    });
    assert!(
        files.contains(&base_uri.as_str()) && files.contains(&child_uri.as_str()),
        "{refs}"
    );

    // Incremental edits: fix the typo, then add a line and complete its value.
    let embd = pos(text, "embd", 0);
    let embd_end = pos(text, "embd", 4);
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": child_uri, "version": 2},
               "contentChanges": [{"range": {"start": embd, "end": embd_end}, "text": "embed"}]}),
    );
    let diags = s.diagnostics(&child_uri, Some(2));
    assert!(
        diags.iter().all(|d| d["severity"] != 1),
        "no errors: {diags:?}"
    );
    let end = json!({"line": 3, "character": 0});
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": child_uri, "version": 3},
               "contentChanges": [{"range": {"start": end, "end": end}, "text": "model.width=32\noptimizer.kind = "}]}),
    );
    let items = s.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": child_uri}, "position": {"line": 4, "character": 17}}),
    );
    let labels: Vec<&str> = items.as_array().map_or(Vec::new(), |i| {
        i.iter().filter_map(|i| i["label"].as_str()).collect()
    });
    assert_eq!(labels, ["adamw", "sgd"]);
    assert!(items[0]["documentation"]["value"]
        .as_str()
        .is_some_and(|d| d.contains("AdamW")));
    let items = s.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": child_uri}, "position": {"line": 3, "character": 0}}),
    );
    let labels: Vec<&str> = items.as_array().map_or(Vec::new(), |i| {
        i.iter().filter_map(|i| i["label"].as_str()).collect()
    });
    assert!(
        labels.contains(&"model") && labels.contains(&"extends"),
        "{labels:?}"
    );
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": child_uri, "version": 4},
               "contentChanges": [{"range": {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 17}}, "text": ""}]}),
    );
    // `model.width` is inert for a deit: a warning whose fix removes the line.
    let diags = s.diagnostics(&child_uri, Some(4));
    let inert: Vec<&Value> = diags
        .iter()
        .filter(|d| d["code"] == "deit::lint::inert_field")
        .collect();
    assert_eq!(inert.len(), 1, "{diags:?}");
    assert_eq!(inert[0]["severity"], 2);
    let actions = s.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": child_uri}, "range": inert[0]["range"], "context": {"diagnostics": [inert[0]]}}),
    );
    let edit = &actions[0]["edit"]["changes"][&child_uri][0];
    assert_eq!(edit["newText"], "");
    assert_eq!(edit["range"]["start"], json!({"line": 3, "character": 0}));
    assert_eq!(edit["range"]["end"], json!({"line": 4, "character": 0}));

    // Formatting is `deitc fmt`.
    let edits = s.request("textDocument/formatting", json!({"textDocument": {"uri": child_uri}, "options": {"tabSize": 4, "insertSpaces": true}}));
    let formatted = edits[0]["newText"].as_str().unwrap_or("");
    assert!(formatted.contains("model.width = 32\n"), "{formatted}");

    let symbols = s.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": base_uri}}),
    );
    assert_eq!(symbols, Value::Null, "an unopened file has no outline");
    // The base, opened and broken without saving: its error is published on it and on the
    // `extends` line of the recipe that extends it.
    let broken = BASE.replace("heads = 2", "heads = 2\n    hedas = 2");
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": base_uri, "languageId": "deit", "version": 1, "text": broken}}),
    );
    let on_child = s.wait("the base's error on the child", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == child_uri
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "deit::schema::unknown_field"))
    });
    let d = &on_child["params"]["diagnostics"][0];
    assert_eq!(d["range"]["start"]["line"], 0, "{d}");
    assert!(
        d["message"].as_str().unwrap_or("").starts_with("in `"),
        "{d}"
    );
    let on_base = s.wait("the base's error on the base", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == base_uri
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "deit::schema::unknown_field"))
    });
    assert_eq!(
        on_base["params"]["diagnostics"][0]["range"]["start"],
        pos(&broken, "hedas", 0)
    );
    let symbols = s.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": base_uri}}),
    );
    let names: Vec<&str> = symbols.as_array().map_or(Vec::new(), |s| {
        s.iter().filter_map(|s| s["name"].as_str()).collect()
    });
    assert_eq!(names, ["model", "data", "train.batch"]);
    s.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_input_and_malformed_messages() {
    let dir = temp_dir("hostile");
    let mut s = Server::start();
    // Before `initialize`, requests are refused.
    let id = s.send_request("textDocument/hover", json!({}));
    assert_eq!(s.response(id)["error"]["code"], -32002);
    s.initialize(&dir);
    // Not JSON: a parse error with a null id, and the server reads on.
    s.send_raw("{this is not json");
    let e = s.wait("the parse error", |m| {
        m["id"].is_null() && m.get("error").is_some()
    });
    assert_eq!(e["error"]["code"], -32700);
    let id = s.send_request("deitc/nonsense", json!({}));
    assert_eq!(s.response(id)["error"]["code"], -32601);
    let id = s.send_request("textDocument/hover", json!({"textDocument": 42}));
    assert_eq!(s.response(id)["error"]["code"], -32602);
    s.notify("textDocument/didOpen", json!({"wrong": true}));
    s.notify("deitc/unknownNotification", json!([1, 2]));

    // Over the size limit, and nesting beyond the parser's limit: a diagnostic each.
    let big = dir.join("big.deit");
    let text = "// padding\n".repeat(200_000);
    s.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri(&big), "languageId": "deit", "version": 1, "text": text}}));
    assert_eq!(
        codes(&s.diagnostics(&uri(&big), Some(1))),
        ["deit::io::too_large"]
    );
    let deep = dir.join("deep.deit");
    let text = format!(
        "model.embed = {}1{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    s.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri(&deep), "languageId": "deit", "version": 1, "text": text}}));
    assert_eq!(
        codes(&s.diagnostics(&uri(&deep), Some(1))),
        ["deit::syntax::too_deep"]
    );
    // A megabyte of list: its diagnostic, no hang.
    std::fs::write(dir.join("base.deit"), BASE).expect("write base");
    let long = dir.join("long.deit");
    let items = vec!["0.5"; 200_000].join(", ");
    let text = format!("extends \"base.deit\"\ndata.mean = [{items}]\n");
    assert!(text.len() > 1_000_000);
    s.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri(&long), "languageId": "deit", "version": 1, "text": text}}));
    assert_eq!(
        codes(&s.diagnostics(&uri(&long), Some(1))),
        ["deit::rule::channel_stats"]
    );
    let hover = s.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&deep)}, "position": {"line": 0, "character": 3}}),
    );
    assert_eq!(hover, Value::Null);
    s.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The time from an edit to its diagnostics, on a shipped recipe with its bases (the
/// number in docs/performance.md).
#[test]
#[ignore = "a measurement: cargo test --release --test lsp -- --ignored --nocapture"]
fn diagnostics_latency_on_a_shipped_recipe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipe = root.join("recipes/deit_base_distilled_patch16_384.deit");
    let text = std::fs::read_to_string(&recipe).expect("recipe");
    let u = uri(&recipe);
    let mut s = Server::start();
    s.initialize(root);
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": u, "languageId": "deit", "version": 1, "text": text}}),
    );
    s.diagnostics(&u, Some(1));
    // Let the background dataset counts land.
    std::thread::sleep(Duration::from_millis(500));
    let line = text[..text.find("mode = hard").expect("a line to edit")]
        .matches('\n')
        .count();
    let mut times = Vec::new();
    for v in 2..=41 {
        let value = if v % 2 == 0 { "soft" } else { "hard" };
        let range = json!({"start": {"line": line, "character": 11}, "end": {"line": line, "character": 15}});
        let t0 = Instant::now();
        s.notify("textDocument/didChange", json!({"textDocument": {"uri": u, "version": v}, "contentChanges": [{"range": range, "text": value}]}));
        s.diagnostics(&u, Some(v));
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "edit → diagnostics, {}: median {:.2} ms, min {:.2} ms, max {:.2} ms ({} edits)",
        recipe.display(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
    s.shutdown();
}
