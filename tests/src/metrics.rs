//! Reading pgscope's own `/metrics` in tests.

use pgscope::cli::report::client::AdminClient;

/// The value of the unlabelled series `name` in `/metrics`, if present.
pub fn metric(admin: &AdminClient, name: &str) -> Option<f64> {
    let text = String::from_utf8(admin.get("/metrics").expect("GET /metrics")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
}
