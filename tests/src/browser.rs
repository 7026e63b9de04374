//! Headless Chromium, for the tests that check what a user's browser makes of pgscope's HTML
//! report: the DOM after parsing and layout (`--dump-dom`).
//!
//! `scripts/install-deps.sh` installs Debian's `chromium`; a missing browser fails the test
//! with that advice instead of silently checking less. Every run gets a fresh, empty profile
//! directory, and the flags that keep Chromium from reaching for the network at start
//! (background networking, component updates, sync, QUIC): the machines running the tests
//! have no network beyond loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::clients::output_within;

/// How long one Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium binary on `PATH` (`chromium`, `chromium-browser` or `google-chrome`).
/// Panics with what to install when there is none.
pub fn chromium() -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "no Chromium on PATH: run `bash scripts/install-deps.sh` \
                 (or `apt-get install chromium`)"
            )
        })
}

/// Runs headless Chromium on the local file `page` with `extra` arguments.
fn run(page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()));
    let output = output_within(&mut command, BROWSER_TIMEOUT);
    assert!(
        output.status.success(),
        "chromium failed on {}: {}",
        page.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The DOM of `page` as headless Chromium has parsed and laid it out.
pub fn rendered_dom(page: &Path) -> String {
    String::from_utf8_lossy(&run(page, &["--dump-dom".to_owned()]).stdout).into_owned()
}
