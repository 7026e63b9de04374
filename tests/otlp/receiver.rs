//! [`Receiver`]: an OTLP trace receiver on a free loopback port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::tls::ServerTls;

/// Which OTLP transport a receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `http/protobuf` on `/v1/traces`.
    Http,
    /// `grpc`, `TraceService/Export`.
    Grpc,
}

impl Transport {
    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` name.
    pub fn protocol(self) -> &'static str {
        match self {
            Transport::Http => "http/protobuf",
            Transport::Grpc => "grpc",
        }
    }
}

/// One received span with its resource, scope and the request's headers.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the resource it came with.
    pub service: String,
    /// The span as decoded.
    pub span: Span,
    /// The resource's attributes.
    pub resource: Vec<KeyValue>,
    /// The instrumentation scope it came with.
    pub scope: Option<InstrumentationScope>,
    /// The headers (HTTP) or metadata (gRPC) of the request that carried it, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// The span's attributes as strings (ints printed in decimal).
    pub fn attributes(&self) -> HashMap<String, String> {
        self.span
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), value_text(kv)))
            .collect()
    }

    /// The trace id in hex.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// The span id in hex.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// The parent span id in hex (empty for a root).
    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

type Store = Arc<Mutex<Vec<ReceivedSpan>>>;

/// A running receiver; stops when dropped (its runtime goes with it).
pub struct Receiver {
    port: u16,
    transport: Transport,
    spans: Store,
    requests: Arc<Mutex<u64>>,
    /// TLS handshakes that failed (https receivers only).
    refused: Arc<Mutex<u64>>,
    tls: bool,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Never blocks, so a receiver may be dropped inside a test's runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Receiver {
    /// Starts a receiver of `transport` on its own runtime and a free port.
    pub fn start(transport: Transport) -> Receiver {
        Receiver::serve(transport, None)
    }

    /// Same, serving `https://` as `tls` says.
    pub fn start_tls(transport: Transport, tls: &ServerTls) -> Receiver {
        let alpn: &[u8] = match transport {
            Transport::Http => b"http/1.1",
            Transport::Grpc => b"h2",
        };
        Receiver::serve(transport, Some(tls.acceptor(alpn)))
    }

    fn serve(transport: Transport, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("receiver runtime");
        // Bound with std so that a receiver can be started inside a test's own runtime.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("receiver address").port();
        let spans = Store::default();
        let requests = Arc::new(Mutex::new(0));
        let refused = Arc::new(Mutex::new(0));
        let is_tls = tls.is_some();
        let (store, count, refusals) = (
            Arc::clone(&spans),
            Arc::clone(&requests),
            Arc::clone(&refused),
        );
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("register the listener");
            while let Ok((stream, _)) = listener.accept().await {
                let (store, count) = (Arc::clone(&store), Arc::clone(&count));
                let (tls, refusals) = (tls.clone(), Arc::clone(&refusals));
                tokio::spawn(async move {
                    let served = match tls {
                        None => serve(transport, stream, &store, &count).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => serve(transport, stream, &store, &count).await,
                            Err(err) => {
                                *refusals.lock().unwrap() += 1;
                                Err(format!("TLS handshake failed: {err}").into())
                            }
                        },
                    };
                    if let Err(err) = served {
                        eprintln!("otlp receiver: connection ended: {err}");
                    }
                });
            }
        });
        Receiver {
            port,
            transport,
            spans,
            requests,
            refused,
            tls: is_tls,
            runtime: Some(runtime),
        }
    }

    /// The base endpoint URL (`http://127.0.0.1:PORT`, or `https://` when serving TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// TLS handshakes that failed so far.
    pub fn refused_handshakes(&self) -> u64 {
        *self.refused.lock().unwrap()
    }

    /// The transport it speaks.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Export requests received so far.
    pub fn requests(&self) -> u64 {
        *self.requests.lock().unwrap()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until the spans received include `n` matching `filter`; returns those. Panics
    /// after `timeout` with what did arrive.
    pub fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        filter: impl Fn(&ReceivedSpan) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let matching: Vec<ReceivedSpan> =
                self.spans().into_iter().filter(|s| filter(s)).collect();
            if matching.len() >= n {
                return matching;
            }
            if Instant::now() >= deadline {
                let names: Vec<(String, String)> = self
                    .spans()
                    .into_iter()
                    .map(|s| (s.service, s.span.name))
                    .collect();
                panic!(
                    "expected {n} matching spans within {timeout:?}, got {}; all spans: {names:?}",
                    matching.len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Stores the spans of one decoded export request that came with `headers`.
fn store(
    request: ExportTraceServiceRequest,
    headers: &[(String, String)],
    spans: &Store,
    count: &Mutex<u64>,
) {
    *count.lock().unwrap() += 1;
    let mut spans = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .map(value_text)
            .unwrap_or_default();
        let resource = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    span,
                    resource: resource.clone(),
                    scope: scope.scope.clone(),
                    headers: headers.to_vec(),
                });
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one connection, plain or TLS.
async fn serve<S>(
    transport: Transport,
    stream: S,
    spans: &Store,
    count: &Arc<Mutex<u64>>,
) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match transport {
        Transport::Http => serve_http(stream, spans, count).await,
        Transport::Grpc => serve_grpc(stream, spans, count).await,
    }
}

/// HTTP/1.1 with keep-alive: `POST /v1/traces` bodies of `Content-Length` bytes.
async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    spans: &Store,
    count: &Arc<Mutex<u64>>,
) -> Result<(), BoxError> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.advance(head_end);
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or("no content-length")?;
        while buf.len() < length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err("body cut short".into());
            }
        }
        let body = buf.split_to(length).freeze();
        let (status, reply) = if head.starts_with("POST /v1/traces ") {
            let request = ExportTraceServiceRequest::decode(body)?;
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                })
                .collect();
            store(request, &headers, spans, count);
            (
                "200 OK",
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        } else {
            ("404 Not Found", Vec::new())
        };
        let header = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        stream.write_all(header.as_bytes()).await?;
        stream.write_all(&reply).await?;
    }
}

/// gRPC over HTTP/2: each request body is length-prefixed messages; the reply is one empty
/// `ExportTraceServiceResponse` and `grpc-status: 0`. Each request is answered on its own
/// task while the connection keeps being polled by `accept`.
async fn serve_grpc<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    spans: &Store,
    count: &Arc<Mutex<u64>>,
) -> Result<(), BoxError> {
    let mut connection = h2::server::handshake(stream).await?;
    while let Some(request) = connection.accept().await {
        let (request, respond) = request?;
        let (spans, count) = (Arc::clone(spans), Arc::clone(count));
        tokio::spawn(async move {
            if let Err(err) = answer_grpc(request, respond, &spans, &count).await {
                eprintln!("otlp receiver: gRPC request failed: {err}");
            }
        });
    }
    Ok(())
}

async fn answer_grpc(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    spans: &Store,
    count: &Mutex<u64>,
) -> Result<(), BoxError> {
    let path = request.uri().path().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let mut body = request.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let ok = path == "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    if ok {
        let mut data = data.freeze();
        while data.len() >= 5 {
            let compressed = data.get_u8();
            let length = data.get_u32() as usize;
            if compressed != 0 || data.len() < length {
                return Err("compressed or truncated gRPC message".into());
            }
            let message: Bytes = data.split_to(length);
            let request = ExportTraceServiceRequest::decode(message)?;
            store(request, &headers, spans, count);
        }
    }
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())?;
    let mut send = respond.send_response(response, false)?;
    if ok {
        let reply = ExportTraceServiceResponse::default().encode_to_vec();
        let mut framed = Vec::with_capacity(5 + reply.len());
        framed.push(0);
        framed.extend_from_slice(&(reply.len() as u32).to_be_bytes());
        framed.extend_from_slice(&reply);
        send.send_data(Bytes::from(framed), false)?;
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", if ok { "0" } else { "12" }.parse()?);
    send.send_trailers(trailers)?;
    Ok(())
}
