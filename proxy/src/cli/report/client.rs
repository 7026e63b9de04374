//! The CLI's blocking client of the admin API: `GET`/`POST` over plain HTTP/1.1 (the admin
//! server speaks nothing else), done by `ureq`. It goes straight to the address given (no
//! `HTTP_PROXY`, no redirects), waits at most [`TIMEOUT`] to connect and for each read, and
//! accepts bodies up to [`MAX_BODY`]. JSON error bodies from the API become
//! [`ClientError::Status`] with the API's message.

use std::time::Duration;

use ureq::Agent;

/// Longest body accepted (a snapshot of 5000 entries is tens of MB).
pub const MAX_BODY: u64 = 1 << 30;
/// Longest header section accepted.
const MAX_HEADERS: usize = 64 * 1024;
/// Longest wait to connect, and for each read of the reply.
pub const TIMEOUT: Duration = Duration::from_secs(30);

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
    agent: Agent,
}

impl AdminClient {
    /// A client of `addr` (`HOST:PORT`), sending `token` as a bearer token when given.
    pub fn new(addr: &str, token: Option<String>) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .max_response_header_size(MAX_HEADERS)
            .timeout_connect(Some(TIMEOUT))
            .timeout_per_read(Some(TIMEOUT))
            .build()
            .into();
        AdminClient {
            addr: addr.to_owned(),
            token,
            agent,
        }
    }

    /// `GET target` (path and query); the body of a 2xx reply.
    pub fn get(&self, target: &str) -> Result<Vec<u8>, ClientError> {
        let request = self.agent.get(self.url(target));
        let request = match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        };
        self.finish(request.call())
    }

    /// `POST target` with an empty body; the body of a 2xx reply.
    pub fn post(&self, target: &str) -> Result<Vec<u8>, ClientError> {
        let request = self.agent.post(self.url(target));
        let request = match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        };
        self.finish(request.send_empty())
    }

    /// `POST target` with a JSON body; the body of a 2xx reply.
    pub fn post_json(&self, target: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let request = self
            .agent
            .post(self.url(target))
            .header("Content-Type", "application/json");
        let request = match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        };
        self.finish(request.send(body))
    }

    /// `DELETE target`; the body of a 2xx reply.
    pub fn delete(&self, target: &str) -> Result<Vec<u8>, ClientError> {
        let request = self.agent.delete(self.url(target));
        let request = match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        };
        self.finish(request.call())
    }

    fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.addr)
    }

    /// The body of a 2xx reply, or the error the reply (or its absence) means.
    fn finish(
        &self,
        reply: Result<http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut reply = reply.map_err(|e| self.error(e))?;
        let status = reply.status().as_u16();
        let body = reply
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| self.error(e))?;
        if reply.status().is_success() {
            return Ok(body);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(ClientError::Status { status, message })
    }

    /// A transport failure is [`ClientError::Io`]; a reply that is not HTTP as expected (bad
    /// status line or header, oversized header or body, a bad address) is
    /// [`ClientError::Malformed`].
    fn error(&self, error: ureq::Error) -> ClientError {
        use ureq::Error as E;
        let transport = matches!(
            error,
            E::Io(_) | E::Timeout(_) | E::HostNotFound | E::ConnectionFailed
        );
        if transport {
            ClientError::Io {
                addr: self.addr.clone(),
                cause: error.into_io(),
            }
        } else {
            ClientError::Malformed {
                addr: self.addr.clone(),
                reason: error.to_string(),
            }
        }
    }
}
