//! A small blocking HTTP/1.1 client for the admin API (`GET`/`POST`, `Content-Length` or
//! chunked bodies), so the CLI needs no HTTP library. JSON error bodies from the API become
//! [`ClientError::Status`] with the API's message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest body accepted (a snapshot of 5000 entries is tens of MB).
const MAX_BODY: usize = 1 << 30;
/// Longest header section accepted.
const MAX_HEADERS: usize = 64 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Cannot connect, send or read.
    #[error("cannot reach the admin API at {addr}: {cause} (is `pgscope run` running with admin = {addr}?)")]
    Io {
        /// The admin address.
        addr: String,
        /// The error.
        cause: std::io::Error,
    },
    /// The reply is not HTTP as expected.
    #[error("malformed reply from the admin API at {addr}: {reason}")]
    Malformed {
        /// The admin address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// The API answered with an error status.
    #[error("the admin API answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The API's error message (or the body).
        message: String,
    },
}

/// A client of one admin address.
#[derive(Debug, Clone)]
pub struct AdminClient {
    addr: String,
    token: Option<String>,
    timeout: Duration,
}

impl AdminClient {
    /// A client of `addr` (`HOST:PORT`), sending `token` as a bearer token when given.
    pub fn new(addr: &str, token: Option<String>) -> Self {
        AdminClient {
            addr: addr.to_owned(),
            token,
            timeout: Duration::from_secs(30),
        }
    }

    /// `GET target` (path and query); the body of a 2xx reply.
    pub fn get(&self, target: &str) -> Result<Vec<u8>, ClientError> {
        self.request("GET", target)
    }

    /// `POST target` with an empty body; the body of a 2xx reply.
    pub fn post(&self, target: &str) -> Result<Vec<u8>, ClientError> {
        self.request("POST", target)
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
        move |cause| ClientError::Io {
            addr: self.addr.clone(),
            cause,
        }
    }

    fn malformed(&self, reason: &str) -> ClientError {
        ClientError::Malformed {
            addr: self.addr.clone(),
            reason: reason.to_owned(),
        }
    }

    fn request(&self, method: &str, target: &str) -> Result<Vec<u8>, ClientError> {
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(self.io())?
            .next()
            .ok_or_else(|| self.malformed("the address resolves to nothing"))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(self.io())?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(self.io())?;
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\nAccept: */*\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(self.io())?;
        let mut reader = BufReader::new(stream);
        let (status, length, chunked) = self.read_head(&mut reader)?;
        let body = if chunked {
            self.read_chunked(&mut reader)?
        } else if let Some(length) = length {
            if length > MAX_BODY {
                return Err(self.malformed("body too large"));
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).map_err(self.io())?;
            body
        } else {
            let mut body = Vec::new();
            reader
                .take(MAX_BODY as u64)
                .read_to_end(&mut body)
                .map_err(self.io())?;
            body
        };
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(ClientError::Status { status, message })
    }

    /// The status, `Content-Length` and whether the body is chunked.
    fn read_head(
        &self,
        reader: &mut impl BufRead,
    ) -> Result<(u16, Option<usize>, bool), ClientError> {
        let mut line = String::new();
        let mut total = 0;
        reader.read_line(&mut line).map_err(self.io())?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| self.malformed(&format!("bad status line {line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(self.io())?;
            total += n;
            if n == 0 || total > MAX_HEADERS {
                return Err(self.malformed("truncated or oversized headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                return Ok((status, length, chunked));
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(
                        value
                            .parse()
                            .map_err(|_| self.malformed("bad Content-Length"))?,
                    );
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
    }

    fn read_chunked(&self, reader: &mut impl BufRead) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(self.io())?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size =
                usize::from_str_radix(size, 16).map_err(|_| self.malformed("bad chunk size"))?;
            if size == 0 {
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(self.malformed("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).map_err(self.io())?;
            line.clear();
            reader.read_line(&mut line).map_err(self.io())?;
        }
    }
}
