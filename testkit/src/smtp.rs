//! A real SMTP server for the tests: the `mailin` crate speaks the protocol, this file only owns
//! the socket, so a test can stop the server (closing every connection) and start it again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The message body with quoted-printable soft breaks and escapes undone and base64 parts
    /// decoded (a letter mostly in Cyrillic goes as base64), enough to read the letters the
    /// node sends.
    pub fn text(&self) -> String {
        let mut out = self.quoted_printable();
        for part in self.data.split("Content-Transfer-Encoding: base64").skip(1) {
            let body = part
                .split_once("\r\n\r\n")
                .or_else(|| part.split_once("\n\n"))
                .map(|(_, body)| body)
                .unwrap_or("");
            let encoded: String = body
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("--"))
                .map(str::trim)
                .collect();
            use base64::Engine;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    /// The `Subject`, with RFC 2047 encoded words (UTF-8, base64 or Q) decoded.
    pub fn subject(&self) -> String {
        let raw: String = self
            .data
            .lines()
            .skip_while(|l| !l.starts_with("Subject:"))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with(' ') || l.starts_with('\t'))
            .map(|(_, l)| l.trim_start_matches("Subject:").trim())
            .collect::<Vec<_>>()
            .join(" ");
        if !raw.contains("=?") {
            return raw;
        }
        // Encoded words next to each other join without the space between them.
        let mut out = String::new();
        let mut last_encoded = false;
        for word in raw.split(' ') {
            let inner = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?="));
            if !(out.is_empty() || last_encoded && inner.is_some()) {
                out.push(' ');
            }
            last_encoded = inner.is_some();
            let Some(inner) = inner else {
                out.push_str(word);
                continue;
            };
            let mut parts = inner.splitn(3, '?');
            let (_, encoding, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            use base64::Engine;
            let decoded = match encoding.map(str::to_ascii_uppercase).as_deref() {
                Some("B") => base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
                _ => Received {
                    data: text.replace('_', " "),
                    ..self.clone()
                }
                .quoted_printable(),
            };
            out.push_str(&decoded);
        }
        out
    }

    fn quoted_printable(&self) -> String {
        let mut out = Vec::new();
        let bytes = self
            .data
            .replace("=\r\n", "")
            .replace("=\n", "")
            .into_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
                .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
                .flatten()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            if let Some(b) = escaped {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Clone, Default)]
struct Collector {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        });
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = self.current.as_mut() {
            current.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.inbox.lock().unwrap().push(done);
        }
        mailin::response::OK
    }
}

pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let mut server = SmtpServer {
            port: 0,
            inbox: Arc::default(),
            task: None,
        };
        server.listen().await;
        server
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .await
            .expect("bind the SMTP port");
        self.port = listener.local_addr().unwrap().port();
        let inbox = self.inbox.clone();
        self.task = Some(tokio::spawn(async move {
            // Owned here, so stopping the server also closes every open connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let handler = Collector {
                    inbox: inbox.clone(),
                    current: None,
                };
                connections.spawn(async move {
                    let mut session = SessionBuilder::new("smtp.test").build(peer.ip(), handler);
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    let _ = write.write_all(&session.greeting().buffer().unwrap()).await;
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match reader.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                        let response = session.process(&line);
                        match response.action {
                            Action::NoReply => {}
                            Action::Close => {
                                let _ = write.write_all(&response.buffer().unwrap()).await;
                                break;
                            }
                            _ => {
                                if write.write_all(&response.buffer().unwrap()).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        }));
    }

    /// Stops listening and drops every connection, as a crashed server would.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Starts again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages, the SMTP server has {}: {:#?}",
            self.received().len(),
            self.received()
        );
    }
}

/// The first `http…` link in a message's text.
pub fn link_in(message: &Received) -> String {
    let text = message.text();
    let start = text.find("http").expect("a link in the message");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['"', '<', '>'])
        .to_owned()
}

/// The temporary password in an account letter.
pub fn temporary_password_in(message: &Received) -> String {
    let text = message.text();
    let marker = [
        "Ajutine salasõna on: ",
        "temporary password is: ",
        "Временный пароль: ",
    ]
    .into_iter()
    .find(|m| text.contains(m))
    .expect("a temporary password in the message");
    let start = text
        .find(marker)
        .expect("a temporary password in the message")
        + marker.len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}
