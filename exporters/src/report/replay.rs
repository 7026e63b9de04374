//! The replay section of a report (`pgscope replay`): what was replayed against what, how
//! long it took against how long the capture lasted, and what did not go as captured —
//! sessions that failed, statements cancelled after stalling on a lock, requests left out by
//! `--read-only`. The per-fingerprint comparison itself is the report's baseline comparison
//! ([`super::diff::compare_all`]), the capture being the baseline.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use maud::{html, Markup};

use super::fmt_ms;

/// What a replay did, as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// The capture file.
    pub capture: String,
    /// The server replayed against (never a password).
    pub target: String,
    /// `--speed` as given (`1`, `2.5`, `max`).
    pub speed: String,
    /// `--multiply`.
    pub multiply: u32,
    /// `--read-only`.
    pub read_only: bool,
    /// Sessions replayed, copies included.
    pub sessions: u64,
    /// How long the capture lasted, ms.
    pub captured_ms: f64,
    /// How long the replay took, ms.
    pub replayed_ms: f64,
    /// Statements the capture completed (skipped ones excluded).
    pub statements_captured: u64,
    /// Statements the replay completed (skipped ones excluded).
    pub statements_replayed: u64,
    /// Requests left out by `--read-only`.
    pub skipped_requests: u64,
    /// Sessions cancelled after waiting on a lock longer than `--stall-timeout`.
    pub stalls: Vec<ReplayStall>,
    /// Sessions that could not be replayed to their end.
    pub failures: Vec<ReplayFailure>,
    /// What the reader warned about (a truncated or incomplete capture).
    pub warnings: Vec<String>,
}

/// A stalled session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayStall {
    /// The captured session's id.
    pub session: u64,
    /// Which `--multiply` copy.
    pub copy: u32,
    /// How long it had waited, ms.
    pub waited_ms: u64,
}

/// A failed session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFailure {
    /// The captured session's id.
    pub session: u64,
    /// Which `--multiply` copy.
    pub copy: u32,
    /// Why.
    pub error: String,
}

/// The section as comment lines of the text report.
pub(crate) fn text(out: &mut String, replay: &ReplaySummary) -> std::fmt::Result {
    writeln!(
        out,
        "# Replay of {} against {}: speed {}, multiply {}{}",
        replay.capture,
        replay.target,
        replay.speed,
        replay.multiply,
        if replay.read_only { ", read-only" } else { "" }
    )?;
    writeln!(
        out,
        "# {} sessions; {} statements captured, {} replayed; {} ms captured, {} ms replayed",
        replay.sessions,
        replay.statements_captured,
        replay.statements_replayed,
        fmt_ms(replay.captured_ms),
        fmt_ms(replay.replayed_ms)
    )?;
    if replay.read_only {
        writeln!(
            out,
            "# {} requests that write were left out",
            replay.skipped_requests
        )?;
    }
    for warning in &replay.warnings {
        writeln!(out, "# WARNING: {warning}")?;
    }
    for stall in &replay.stalls {
        writeln!(
            out,
            "# STALLED: session {} (copy {}) waited {} ms on a lock and was cancelled",
            stall.session, stall.copy, stall.waited_ms
        )?;
    }
    for failure in &replay.failures {
        writeln!(
            out,
            "# FAILED: session {} (copy {}): {}",
            failure.session, failure.copy, failure.error
        )?;
    }
    writeln!(out, "#")
}

/// The section as HTML.
pub(crate) fn html(replay: &ReplaySummary) -> Markup {
    html! {
        h2 #replay { "Replay" }
        p.meta {
            (replay.capture) " against " (replay.target) ": speed " (replay.speed)
            ", multiply " (replay.multiply)
            @if replay.read_only { ", read-only" }
            ". " (replay.sessions) " sessions; " (replay.statements_captured)
            " statements captured, " (replay.statements_replayed) " replayed; "
            (fmt_ms(replay.captured_ms)) " ms captured, " (fmt_ms(replay.replayed_ms))
            " ms replayed."
            @if replay.read_only {
                " " (replay.skipped_requests) " requests that write were left out."
            }
        }
        @if !(replay.warnings.is_empty() && replay.stalls.is_empty() && replay.failures.is_empty()) {
            ul {
                @for warning in &replay.warnings {
                    li.regressed { b { "Warning: " } (warning) }
                }
                @for stall in &replay.stalls {
                    li.regressed {
                        b { "Stalled: " } "session " (stall.session) " (copy " (stall.copy)
                        ") waited " (stall.waited_ms) " ms on a lock and was cancelled"
                    }
                }
                @for failure in &replay.failures {
                    li.regressed {
                        b { "Failed: " } "session " (failure.session) " (copy " (failure.copy)
                        "): " (failure.error)
                    }
                }
            }
        }
    }
}
