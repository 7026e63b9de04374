//! The admin server's HTTP/1.1 transport: pingora accepts the connections (the admin service is
//! a listening service of the proxy's `Server`, on its own thread), and each one is served by
//! hyper with bounded deadlines and sizes, answering malformed requests as HTTP servers do:
//!
//! | request | answer |
//! |---|---|
//! | request header not complete within [`HEADER_DEADLINE`] | `408` (or a plain close when nothing was sent) |
//! | request body not complete within [`BODY_DEADLINE`] | `408` |
//! | more than [`MAX_HEADERS`] header fields, or a header section over [`MAX_HEAD_BYTES`] | `431` |
//! | a request target over 65,534 bytes (hyper's limit) | `414` |
//! | a body over [`MAX_BODY`] | `413` |
//! | a bad request line, header or `Content-Length` (negative, not a number) | `400` |
//!
//! Nothing here logs a request's contents (its headers carry the admin token): a failed
//! connection is logged at debug level with hyper's error kind only.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::router::{Reply, Request, Router};

/// The whole request header (request line and fields) must arrive within this long after the
/// connection opens or the previous response was sent; an idle keep-alive connection is
/// closed after it too.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(10);
/// The whole request body must arrive within this long after its header.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Header fields a request may have (more: `431`).
pub const MAX_HEADERS: usize = 100;
/// Bytes a request's header section may take (more: `431`). It is also hyper's read buffer
/// size, so it must hold hyper's longest request target (65,534 bytes, more: `414`).
pub const MAX_HEAD_BYTES: usize = 128 * 1024;
/// Bytes a request body may take (the API reads none; more: `413`).
pub const MAX_BODY: usize = 64 * 1024;
/// Test-only override of both deadlines, in milliseconds (`PGSCOPE_TEST_` variables are
/// reserved for tests and never read as configuration).
const DEADLINE_ENV: &str = "PGSCOPE_TEST_ADMIN_DEADLINE_MS";

/// The deadlines in force: the constants, or the test override.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    header: Duration,
    body: Duration,
}

impl Deadlines {
    fn from_env() -> Deadlines {
        let test = std::env::var(DEADLINE_ENV)
            .ok()
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        Deadlines {
            header: test.unwrap_or(HEADER_DEADLINE),
            body: test.unwrap_or(BODY_DEADLINE),
        }
    }
}

/// The pingora application of the admin service: every accepted connection is served by hyper.
#[derive(Debug)]
pub struct AdminServer {
    router: Arc<Router>,
    deadlines: Deadlines,
}

impl AdminServer {
    /// A server answering with `router`.
    pub fn new(router: Router) -> Self {
        AdminServer {
            router: Arc::new(router),
            deadlines: Deadlines::from_env(),
        }
    }

    fn builder(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.deadlines.header)
            .max_headers(MAX_HEADERS)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        builder
    }
}

#[async_trait]
impl ServerApp for AdminServer {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let router = Arc::clone(&self.router);
        let body_deadline = self.deadlines.body;
        let service = hyper::service::service_fn(move |request| {
            let router = Arc::clone(&router);
            let reply: Pin<Box<dyn Future<Output = Result<_, Infallible>> + Send>> =
                Box::pin(async move { Ok(serve(&router, request, body_deadline).await) });
            reply
        });
        let io = TokioIo::new(Tracked {
            stream,
            unanswered: false,
        });
        let mut conn = self.builder().serve_connection(io, service);
        let mut shutdown = shutdown.clone();
        let mut draining = *shutdown.borrow();
        if draining {
            Pin::new(&mut conn).graceful_shutdown();
        }
        let result = loop {
            tokio::select! {
                result = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break result,
                changed = shutdown.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() && *shutdown.borrow() {
                        Pin::new(&mut conn).graceful_shutdown();
                    }
                }
            }
        };
        let mut tracked = conn.into_parts().io.into_inner();
        if let Err(error) = &result {
            // hyper's error kinds never include the request's bytes.
            log::debug!("admin connection closed: {error}");
            if error.is_timeout() && tracked.unanswered {
                let reply = Reply::error(408, "request header not received in time");
                let _ = tracked.stream.write_all(&raw_response(&reply)).await;
            }
        }
        let _ = tracked.stream.shutdown().await;
        None
    }
}

/// Reads the body (within the deadline and size limit), then asks the router.
async fn serve(
    router: &Router,
    request: http::Request<Incoming>,
    body_deadline: Duration,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let read = Limited::new(body, MAX_BODY).collect();
    let mut body = Bytes::new();
    let failure = match tokio::time::timeout(body_deadline, read).await {
        Ok(Ok(collected)) => {
            body = collected.to_bytes();
            None
        }
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Some(Reply::error(
            413,
            &format!("request body over {MAX_BODY} bytes"),
        )),
        Ok(Err(_)) => Some(Reply::error(400, "malformed request body")),
        Err(_) => Some(Reply::error(408, "request body not received in time")),
    };
    if let Some(reply) = failure {
        let mut response = super::response(reply);
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return response.map(|body| Full::new(Bytes::from(body)));
    }
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        authorization,
        body: &body,
    };
    let reply = router.handle(&request).await;
    let mut response = super::response(reply);
    if parts.method == http::Method::HEAD {
        response.body_mut().clear();
    }
    response.map(|body| Full::new(Bytes::from(body)))
}

/// A complete `Connection: close` response, written by hand where hyper no longer can.
fn raw_response(reply: &Reply) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&reply.body);
    out
}

/// The connection's stream, noting whether bytes arrived since the last response was written
/// (a header timeout then deserves a `408`; on an idle keep-alive connection, a plain close).
struct Tracked {
    stream: Stream,
    unanswered: bool,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.unanswered = true;
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.unanswered = false;
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.unanswered = false;
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
