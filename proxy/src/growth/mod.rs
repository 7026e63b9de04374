//! Table growth: relating each fingerprint's latency to the size of the tables it touches.
//!
//! The question this answers is "which queries are getting slower because their tables grew,
//! and which will hurt next". Two halves, split the way the session and the pump are:
//!
//! - [`detector`] is pure and deterministic: given one fingerprint's recorder windows and the
//!   size series of its tables, it estimates the elasticity of latency (and of rows per call) to
//!   table size with a robust estimator ([`estimate`]) and returns a verdict: scan growth,
//!   result growth, or slower without growth.
//! - [`monitor`] samples table sizes from the catalog ([`catalog`]) on its own connections, off the
//!   forwarding path, and feeds the detector.

pub mod catalog;
pub mod common;
pub mod detector;
pub mod episodes;
pub mod estimate;
pub mod flag;
pub mod monitor;
pub mod plan;
pub mod round;
pub mod sizes;
pub mod slowdown;
pub mod state;

pub use monitor::GrowthMonitor;
pub use state::GrowthState;
