//! The two OTLP transports, each sending one request body — prost's encoding of an
//! `ExportTraceServiceRequest` — and reporting what the collector answered:
//!
//! * **HTTP/protobuf**: a `POST` of the body with `Content-Type: application/x-protobuf` over
//!   `opentelemetry-http`'s hyper client (rustls for `https://`); a non-2xx status is a
//!   failure, with its `Retry-After` when the collector throttles.
//! * **gRPC**: the `opentelemetry.proto.collector.trace.v1.TraceService/Export` unary call on a
//!   tonic channel (rustls for `https://`), the body passed through as the message (the codec
//!   below copies the already encoded bytes into the frame) and the response decoded by prost.
//!
//! Both send the `OTEL_EXPORTER_OTLP_*HEADERS` and a `User-Agent` naming pgscope, and report a
//! partial success (spans the collector rejected) in the log, as the SDK's exporter does.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::uri::PathAndQuery;
use opentelemetry_http::HttpClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::OtelError;

/// What pgscope calls itself to collectors.
const AGENT: &str = concat!("pgscope/", env!("CARGO_PKG_VERSION"));
/// The gRPC method of the OTLP trace service.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Why one attempt to send a request failed, and whether another attempt may succeed.
#[derive(Debug)]
pub(crate) struct SendError {
    /// What happened, for the log.
    pub(crate) message: String,
    /// Whether the OTLP specification allows retrying it.
    pub(crate) retryable: bool,
    /// How long the collector asked to be left alone (HTTP `Retry-After`).
    pub(crate) retry_after: Option<Duration>,
}

impl SendError {
    fn new(message: String, retryable: bool) -> SendError {
        SendError {
            message,
            retryable,
            retry_after: None,
        }
    }
}

/// A configured transport.
#[derive(Debug)]
pub(crate) enum Transport {
    /// OTLP/HTTP with protobuf bodies.
    Http {
        /// The HTTP client (its timeout is the export timeout).
        client: Arc<dyn HttpClient>,
        /// The full URL, `…/v1/traces` included.
        uri: http::Uri,
        /// Headers sent with every request.
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// OTLP/gRPC.
    Grpc {
        /// The (lazily connecting) channel.
        channel: Channel,
        /// Metadata sent with every call.
        metadata: MetadataMap,
    },
}

impl Transport {
    /// OTLP/HTTP to `endpoint` through `client`, sending `headers`.
    pub(crate) fn http(
        client: Arc<dyn HttpClient>,
        endpoint: &str,
        headers: &[(String, String)],
    ) -> Result<Transport, OtelError> {
        let uri = endpoint
            .parse::<http::Uri>()
            .map_err(|error| invalid_endpoint(endpoint, &error))?;
        let mut pairs = vec![(USER_AGENT, HeaderValue::from_static(AGENT))];
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_header(name))?;
            let value = HeaderValue::from_str(value).map_err(|_| bad_header(name.as_str()))?;
            pairs.retain(|(existing, _)| *existing != name);
            pairs.push((name, value));
        }
        Ok(Transport::Http {
            client,
            uri,
            headers: pairs,
        })
    }

    /// OTLP/gRPC on `channel`, sending `headers` as metadata.
    pub(crate) fn grpc(
        channel: Channel,
        headers: &[(String, String)],
    ) -> Result<Transport, OtelError> {
        let mut metadata = MetadataMap::new();
        for (name, value) in headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| bad_header(name))?;
            let value: MetadataValue<_> = value.parse().map_err(|_| bad_header(name))?;
            metadata.insert(key, value);
        }
        Ok(Transport::Grpc { channel, metadata })
    }

    /// Sends `body` once.
    pub(crate) async fn send(&self, body: &Bytes) -> Result<(), SendError> {
        match self {
            Transport::Http {
                client,
                uri,
                headers,
            } => send_http(client.as_ref(), uri, headers, body).await,
            Transport::Grpc { channel, metadata } => send_grpc(channel, metadata, body).await,
        }
    }
}

/// The tonic channel to `endpoint`: `timeout` per call, connecting on first use.
pub(crate) fn channel(
    endpoint: &str,
    timeout: Duration,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<Channel, OtelError> {
    let mut builder = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|error| invalid_endpoint(endpoint, &error))?
        .user_agent(AGENT)
        .map_err(|error| invalid_endpoint(endpoint, &error))?
        .timeout(timeout);
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|error| OtelError::TlsSetup(error.to_string()))?;
    }
    Ok(builder.connect_lazy())
}

async fn send_http(
    client: &dyn HttpClient,
    uri: &http::Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: &Bytes,
) -> Result<(), SendError> {
    let mut request = http::Request::post(uri.clone())
        .header(CONTENT_TYPE, "application/x-protobuf")
        .body(body.clone())
        .map_err(|error| SendError::new(format!("cannot build the request: {error}"), false))?;
    for (name, value) in headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let response = client
        .send_bytes(request)
        .await
        .map_err(|error| SendError::new(format!("HTTP request failed: {error}"), true))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The retryable codes of the OTLP/HTTP specification.
        let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
        return Err(SendError {
            message: format!("the collector answered HTTP {status}"),
            retryable,
            retry_after: retry_after.filter(|_| retryable),
        });
    }
    // An empty or undecodable body is a full success, as the SDK's exporter takes it.
    if let Ok(answer) = ExportTraceServiceResponse::decode(response.into_body()) {
        log_partial_success(&answer);
    }
    Ok(())
}

async fn send_grpc(
    channel: &Channel,
    metadata: &MetadataMap,
    body: &Bytes,
) -> Result<(), SendError> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|error| SendError::new(format!("the gRPC channel is not ready: {error}"), true))?;
    let mut request = tonic::Request::new(body.clone());
    *request.metadata_mut() = metadata.clone();
    match grpc
        .unary(request, PathAndQuery::from_static(EXPORT_PATH), BodyCodec)
        .await
    {
        Ok(response) => {
            log_partial_success(response.get_ref());
            Ok(())
        }
        Err(status) => Err(SendError::new(
            format!(
                "the collector answered {:?}: {}",
                status.code(),
                status.message()
            ),
            // The retryable codes of the OTLP/gRPC specification (RESOURCE_EXHAUSTED only
            // with retry information, which is not read here).
            matches!(
                status.code(),
                Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss
            ),
        )),
    }
}

fn log_partial_success(answer: &ExportTraceServiceResponse) {
    if let Some(partial) = &answer.partial_success {
        if partial.rejected_spans > 0 || !partial.error_message.is_empty() {
            log::warn!(
                "the collector rejected {} span(s): {}",
                partial.rejected_spans,
                partial.error_message
            );
        }
    }
}

fn invalid_endpoint(endpoint: &str, error: &dyn std::fmt::Display) -> OtelError {
    OtelError::Exporter(format!("invalid endpoint {endpoint:?}: {error}"))
}

fn bad_header(name: &str) -> OtelError {
    OtelError::Exporter(format!(
        "the header {name:?} of OTEL_EXPORTER_OTLP_*HEADERS is not a valid header name and value"
    ))
}

/// The gRPC codec of the export call: the request is the body prost already encoded, the
/// response an `ExportTraceServiceResponse` prost decodes.
#[derive(Debug, Clone, Copy)]
struct BodyCodec;

impl Codec for BodyCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = BodyCodec;
    type Decoder = BodyCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BodyCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BodyCodec
    }
}

impl Encoder for BodyCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BodyCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let answer = ExportTraceServiceResponse::decode(src.copy_to_bytes(src.remaining()))
            .map_err(|error| Status::internal(format!("undecodable response: {error}")))?;
        Ok(Some(answer))
    }
}
