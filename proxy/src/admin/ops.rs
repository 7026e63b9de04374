//! The admin API's operational parts: the live token, `POST /api/v1/reload`, `/readyz`, and
//! the metrics every daemon exports (`pgscope_build_info`, `process_*`).

use std::sync::Arc;

use pgscope_config::Secret;
use prometheus::{IntGauge, Opts, Registry};
use serde_json::json;

use super::ready::Readiness;
use super::router::Reply;
use crate::reload::{Live, ReloadError, Reloader};

/// What the operational routes act on.
#[derive(Debug)]
pub struct Operations {
    /// The bearer token every route but `/healthz` and `/readyz` needs; a reload replaces it.
    pub token: Arc<Live<Option<Secret>>>,
    /// What `POST /api/v1/reload` runs, and whose last result `/healthz` shows.
    pub reloader: Option<Arc<Reloader>>,
    /// What `/readyz` asks.
    pub readiness: Option<Arc<Readiness>>,
    /// Taking over the listening sockets of a running pgscope (`pgscope run --upgrade`): the
    /// admin address is in use by design.
    pub upgrading: bool,
    /// What `/api/v1/capture` starts, stops and reports.
    pub capture: Option<Arc<crate::capture::Capture>>,
}

impl Operations {
    /// A fixed `token` and neither reload nor readiness (tests of the other routes).
    pub fn with_token(token: Option<Secret>) -> Operations {
        Operations {
            token: Arc::new(Live::new(Arc::new(token))),
            reloader: None,
            readiness: None,
            upgrading: false,
            capture: None,
        }
    }

    /// `POST /api/v1/reload`: 200 with what changed; 422 for an invalid file or environment,
    /// 500 when the file cannot be read (nothing changed either way).
    pub async fn reload(&self) -> Reply {
        let Some(reloader) = self.reloader.clone() else {
            return Reply::error(503, "reloading is not available in this process");
        };
        // Reading the file and certificates is blocking IO.
        let result = tokio::task::spawn_blocking(move || {
            let result = reloader.reload();
            (result, reloader.last())
        })
        .await;
        match result {
            Ok((Ok(summary), last)) => Reply::json(
                200,
                &json!({
                    "reloaded": true,
                    "at": last.map(|l| l.at),
                    "summary": summary,
                }),
            ),
            Ok((Err(error), _)) => {
                let status = match error {
                    ReloadError::Invalid(_) => 422,
                    ReloadError::Unreadable(_) => 500,
                };
                Reply::error(
                    status,
                    &format!("configuration reload failed, nothing changed: {error}"),
                )
            }
            Err(error) => Reply::error(500, &format!("the reload did not finish: {error}")),
        }
    }

    /// `GET /readyz`: 200 when ready for clients, 503 with the reason otherwise.
    pub async fn readyz(&self) -> Reply {
        let Some(readiness) = &self.readiness else {
            return Reply::error(503, "readiness is not checked in this process");
        };
        let verdict = readiness.check().await;
        let status = if verdict.ready { 200 } else { 503 };
        Reply::json(
            status,
            &json!({
                "status": if verdict.ready { "ready" } else { "not ready" },
                "upstream": verdict.upstream,
                "reason": verdict.reason,
            }),
        )
    }

    /// The last reload's result for `/healthz`: `null` before the first.
    pub fn last_reload(&self) -> serde_json::Value {
        self.reloader
            .as_ref()
            .and_then(|r| r.last())
            .map_or(serde_json::Value::Null, |last| json!(last))
    }
}

/// Adds `pgscope_build_info` and, on Linux, the standard `process_*` metrics (CPU seconds,
/// memory, open and maximum file descriptors, start time) to `registry`.
pub fn register_daemon_metrics(registry: &Registry) -> Result<(), prometheus::Error> {
    let build_info = IntGauge::with_opts(
        Opts::new(
            "pgscope_build_info",
            "Always 1; the labels say which pgscope build is running",
        )
        .const_label("version", env!("CARGO_PKG_VERSION"))
        .const_label("os", std::env::consts::OS)
        .const_label("arch", std::env::consts::ARCH)
        .const_label(
            "profile",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        ),
    )?;
    build_info.set(1);
    registry.register(Box::new(build_info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(())
}
