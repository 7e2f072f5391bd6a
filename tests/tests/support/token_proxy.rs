//! A bearer-token front for a test registry: it answers `401` with a
//! `WWW-Authenticate: Bearer realm=…/token` challenge, issues a token at `/token` for the
//! right basic credentials, and forwards requests that carry the token to the registry
//! (one request per connection). Used to test the token flow, which the registry itself
//! (htpasswd only) does not offer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOKEN: &str = "kiln-test-token-0123";

/// A running proxy.
pub struct TokenProxy {
    /// `127.0.0.1:PORT` of the proxy.
    pub addr: String,
    tokens_issued: Arc<AtomicUsize>,
}

impl TokenProxy {
    /// Start a proxy in front of `upstream` (`HOST:PORT`) that issues tokens to `user:pass`.
    pub fn start(upstream: &str, user: &str, pass: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let tokens_issued = Arc::new(AtomicUsize::new(0));
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{user}:{pass}")
            )
        );
        let state = Arc::new((upstream.to_owned(), addr.clone(), basic));
        let issued = tokens_issued.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                let issued = issued.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state.0, &state.1, &state.2, &issued);
                });
            }
        });
        Self {
            addr,
            tokens_issued,
        }
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.tokens_issued.load(Ordering::SeqCst)
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    me: &str,
    basic: &str,
    issued: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut client = client;
    if path.starts_with("/token") {
        if header("authorization").as_deref() == Some(basic) {
            issued.fetch_add(1, Ordering::SeqCst);
            let json =
                format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}","expires_in":300}}"#);
            return write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
        let msg = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        return write!(
            client,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        );
    }
    if header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let msg = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        return write!(
            client,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"kiln-test\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        );
    }
    // Forward without the token; the Host header stays the proxy's, so the registry's
    // Location headers point back here.
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request_line.as_bytes())?;
    for h in &headers {
        let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "authorization" && name != "connection" {
            up.write_all(format!("{h}\r\n").as_bytes())?;
        }
    }
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    // Tell the client this connection ends with the response.
    let text_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..text_end]).into_owned();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    client.write_all(head.join("\r\n").as_bytes())?;
    client.write_all(b"\r\nConnection: close")?;
    client.write_all(&response[text_end..])?;
    client.flush()
}
