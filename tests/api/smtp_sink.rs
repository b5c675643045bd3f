//! A small SMTP server for the tests: it speaks enough of RFC 5321 for a real client
//! (lettre, as Tessera uses it) to deliver, keeps every message, and can refuse the first
//! delivery with a temporary error to exercise retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    pub data: String,
}

/// A running sink; stops with the test.
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    refuse_next: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let refuse_next = Arc::new(AtomicBool::new(false));
        let (store, refuse) = (messages.clone(), refuse_next.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (store, refuse) = (store.clone(), refuse.clone());
                tokio::spawn(async move {
                    let _ = session(socket, store, refuse).await;
                });
            }
        });
        SmtpSink {
            port,
            messages,
            refuse_next,
        }
    }

    /// `smtp://127.0.0.1:<port>` (plain: the sink offers no STARTTLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answers the next DATA with `451`, a temporary failure.
    pub fn refuse_next_delivery(&self) {
        self.refuse_next.store(true, Ordering::SeqCst);
    }

    /// Messages received for `to` so far.
    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .cloned()
            .collect()
    }

    /// Waits (up to 15 s) for the `n`th message to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Received {
        for _ in 0..300 {
            if let Some(message) = self.messages_to(to).get(n - 1) {
                return message.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message #{n} to {to}");
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
    refuse: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL FROM")
            || command == "NOOP"
        {
            b"250 OK\r\n"
        } else if command.starts_with("RSET") {
            recipients.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned();
            recipients.push(address);
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            if refuse.swap(false, Ordering::SeqCst) {
                recipients.clear();
                b"451 try again later\r\n"
            } else {
                store.lock().unwrap().push(Received {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 queued\r\n"
            }
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// The first `.../verify?...` link of a message, its quoted-printable encoding undone.
pub fn link(message: &Received) -> String {
    let decoded = decode_quoted_printable(&message.data);
    let start = decoded
        .find("http")
        .and_then(|_| decoded.find("/verify?"))
        .expect("a /verify link");
    let begin = decoded[..start].rfind("http").expect("an absolute link");
    let link = decoded[begin..]
        .split(|c: char| c.is_whitespace() || c == '<' || c == '"')
        .next()
        .unwrap()
        .to_owned();
    if let Ok(url) = url::Url::parse(&link) {
        for (_, value) in url.query_pairs().filter(|(k, _)| k == "ticket") {
            crate::helpers::audit_secret(&value);
        }
    }
    link
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The one-time code of a `signin-otp` message: the line of its text that is six digits.
pub fn otp(message: &Received) -> String {
    let decoded = decode_quoted_printable(&message.data);
    let code = decoded
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.bytes().all(|b| b.is_ascii_digit()))
        .expect("a six-digit code on a line of its own")
        .to_owned();
    crate::helpers::audit_secret(&code);
    code
}
