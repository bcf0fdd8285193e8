//! Messages on stdin/stdout, framed by `Content-Length` headers (the base protocol), as
//! `lsp_server::Message` values. lsp-server's own stdio transport stops at the first message
//! it cannot read; this one answers it instead, as JSON-RPC asks (a parse error with a null
//! id, an invalid request with its id when it has one), and reads on.

use crossbeam_channel::{select, unbounded, Receiver, Sender};
use lsp_server::{Connection, ErrorCode, Message, RequestId, Response};
use std::io::{self, BufRead, Read, Write};
use std::thread::JoinHandle;

/// The longest message body accepted (a 1 MiB recipe, JSON-escaped, with room to spare).
const MAX_BODY: usize = 64 << 20;

/// The reader and writer threads.
pub struct IoThreads {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl IoThreads {
    /// Gives the writer up to a second to write what the server sent (it ends when the
    /// reader has ended too). The reader is not waited for: it may sit in a read of stdin
    /// that never ends.
    pub fn join(self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !self.writer.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if self.writer.is_finished() {
            let _ = self.writer.join();
        }
        drop(self.reader);
    }
}

/// A connection over stdin/stdout.
pub fn stdio() -> (Connection, IoThreads) {
    let (to_server, from_client) = unbounded::<Message>();
    let (to_client, outgoing) = unbounded::<Message>();
    let (raw_tx, raw_rx) = unbounded::<String>();
    let replies = to_client.clone();
    let reader = std::thread::Builder::new()
        .name("deitc-lsp-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            read_loop(&mut stdin.lock(), &to_server, &replies, &raw_tx);
        });
    let writer = std::thread::Builder::new()
        .name("deitc-lsp-writer".into())
        .spawn(move || {
            let stdout = io::stdout();
            write_loop(&mut stdout.lock(), &outgoing, &raw_rx);
        });
    let (reader, writer) = match (reader, writer) {
        (Ok(r), Ok(w)) => (r, w),
        // Without threads there is no server: an empty connection ends the loop at once.
        _ => {
            let (s, r) = unbounded();
            let done = std::thread::spawn(|| {});
            let done2 = std::thread::spawn(|| {});
            return (
                Connection {
                    sender: s,
                    receiver: r,
                },
                IoThreads {
                    reader: done,
                    writer: done2,
                },
            );
        }
    };
    let connection = Connection {
        sender: to_client,
        receiver: from_client,
    };
    (connection, IoThreads { reader, writer })
}

/// Reads messages until end of input, the `exit` notification, or the server going away.
/// What cannot be read is answered at once: through `replies` when it has an id, as raw
/// JSON through `raw` when its id is `null`.
pub fn read_loop(
    input: &mut dyn BufRead,
    to_server: &Sender<Message>,
    replies: &Sender<Message>,
    raw: &Sender<String>,
) {
    loop {
        let body = match read_body(input) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(Framing::Io) => return,
            Err(Framing::Bad(why)) => {
                let _ = raw.send(error_with_null_id(ErrorCode::ParseError, &why));
                continue;
            }
        };
        match serde_json::from_str::<Message>(&body) {
            Ok(msg) => {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if to_server.send(msg).is_err() || exit {
                    return;
                }
            }
            Err(e) => match serde_json::from_str::<serde_json::Value>(&body) {
                Err(_) => {
                    let why = format!("not JSON: {e}");
                    let _ = raw.send(error_with_null_id(ErrorCode::ParseError, &why));
                }
                Ok(v) => {
                    let why = format!("not a JSON-RPC request, response or notification: {e}");
                    match id_of(&v) {
                        Some(id) => {
                            let r = Response::new_err(id, ErrorCode::InvalidRequest as i32, why);
                            let _ = replies.send(Message::Response(r));
                        }
                        None => {
                            let _ = raw.send(error_with_null_id(ErrorCode::InvalidRequest, &why));
                        }
                    }
                }
            },
        }
    }
}

/// The id of a message that could not be read as one, when it has a usable one.
fn id_of(v: &serde_json::Value) -> Option<RequestId> {
    match v.get("id")? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(RequestId::from),
        serde_json::Value::String(s) => Some(RequestId::from(s.clone())),
        _ => None,
    }
}

/// A JSON-RPC error response whose id is `null` (the request could not be identified).
fn error_with_null_id(code: ErrorCode, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code as i32, "message": message },
    })
    .to_string()
}

enum Framing {
    /// The input is gone.
    Io,
    /// A header or body that is not a message; reading goes on with the next one.
    Bad(String),
}

/// One message body: headers up to an empty line, then `Content-Length` bytes.
fn read_body(input: &mut dyn BufRead) -> Result<Option<String>, Framing> {
    let mut length: Option<usize> = None;
    let mut bad: Option<String> = None;
    let mut saw_header = false;
    loop {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            // Not UTF-8: skip the line.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                bad = Some("a header line that is not UTF-8".into());
                continue;
            }
            Err(_) => return Err(Framing::Io),
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(_) => bad = Some(format!("bad Content-Length: {value:?}")),
                }
            }
            Some(_) => {}
            None => bad = Some(format!("malformed header: {line:?}")),
        }
    }
    let Some(length) = length else {
        return Err(Framing::Bad(
            bad.unwrap_or_else(|| "a message without Content-Length".into()),
        ));
    };
    if length > MAX_BODY {
        // Skip it whole, then report.
        let skipped = io::copy(&mut input.take(length as u64), &mut io::sink());
        if skipped.is_err() {
            return Err(Framing::Io);
        }
        return Err(Framing::Bad(format!(
            "a message of {length} bytes (at most {MAX_BODY})"
        )));
    }
    let mut body = vec![0; length];
    if input.read_exact(&mut body).is_err() {
        return Err(Framing::Io);
    }
    String::from_utf8(body)
        .map(Some)
        .map_err(|_| Framing::Bad("a message body that is not UTF-8".into()))
}

fn write_loop(out: &mut dyn Write, messages: &Receiver<Message>, raw: &Receiver<String>) {
    let mut raw_open = true;
    loop {
        let text = if raw_open {
            select! {
                recv(messages) -> m => match m {
                    Ok(m) => serialize(&m),
                    Err(_) => return,
                },
                recv(raw) -> r => match r {
                    Ok(r) => Some(r),
                    Err(_) => { raw_open = false; None }
                },
            }
        } else {
            match messages.recv() {
                Ok(m) => serialize(&m),
                Err(_) => return,
            }
        };
        let Some(text) = text else { continue };
        let framed = write!(out, "Content-Length: {}\r\n\r\n{text}", text.len());
        if framed.is_err() || out.flush().is_err() {
            return;
        }
    }
}

fn serialize(m: &Message) -> Option<String> {
    let mut buf = Vec::new();
    m.write(&mut buf).ok()?;
    // `Message::write` frames it; keep the body only (we frame it ourselves).
    let text = String::from_utf8(buf).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (Vec<Message>, Vec<String>) {
        let (tx, rx) = unbounded();
        let (raw_tx, raw_rx) = unbounded();
        read_loop(&mut io::Cursor::new(input.as_bytes()), &tx, &tx, &raw_tx);
        drop((tx, raw_tx));
        (rx.iter().collect(), raw_rx.iter().collect())
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn malformed_messages_are_answered_and_reading_goes_on() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = [
            frame("{not json"),
            frame("42"),
            "Content-Type: x\r\n\r\n".to_string(),
            frame(good),
        ]
        .concat();
        let (msgs, raw) = run(&input);
        assert_eq!(raw.len(), 3, "{raw:?}");
        assert!(raw[0].contains("-32700") && raw[0].contains("\"id\":null"));
        assert!(raw[1].contains("-32600"));
        assert!(raw[2].contains("Content-Length"));
        assert_eq!(msgs.len(), 1);
        assert!(matches!(&msgs[0], Message::Notification(n) if n.method == "initialized"));
    }
}
