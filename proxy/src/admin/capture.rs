//! `/api/v1/capture`: `GET` the status, `POST` a JSON body to start (see
//! [`crate::capture::CaptureRequest`]), `DELETE` to stop (answers once the file is complete).

use std::sync::Arc;

use serde_json::json;

use super::router::Reply;
use crate::capture::{Capture, CaptureRequest, StartError};

/// Answers one `/api/v1/capture` request.
pub(super) async fn handle(capture: Option<&Arc<Capture>>, method: &str, body: &[u8]) -> Reply {
    let Some(capture) = capture else {
        return Reply::error(404, "capture is not available in this process");
    };
    match method {
        "GET" => Reply::json(200, &capture.status()),
        "POST" => {
            let request: CaptureRequest = if body.iter().all(u8::is_ascii_whitespace) {
                CaptureRequest::default()
            } else {
                match serde_json::from_slice(body) {
                    Ok(request) => request,
                    Err(e) => return Reply::error(400, &format!("bad capture request: {e}")),
                }
            };
            let capture = Arc::clone(capture);
            match tokio::task::spawn_blocking(move || capture.start_request(request)).await {
                Ok(Ok(status)) => Reply::json(201, &json!({ "capture": status })),
                Ok(Err(e @ StartError::Running(_))) => Reply::error(409, &e.to_string()),
                Ok(Err(e @ StartError::Invalid(_))) => Reply::error(400, &e.to_string()),
                Ok(Err(e @ StartError::File(_))) => Reply::error(500, &e.to_string()),
                Err(e) => Reply::error(500, &format!("capture start failed: {e}")),
            }
        }
        _ => {
            let capture = Arc::clone(capture);
            match tokio::task::spawn_blocking(move || capture.stop()).await {
                Ok(Some(status)) => Reply::json(200, &json!({ "capture": status })),
                Ok(None) => Reply::error(404, "no capture is running"),
                Err(e) => Reply::error(500, &format!("capture stop failed: {e}")),
            }
        }
    }
}
