//! The state directory's failure handling: mode 0600, the OS error named as such, failures
//! counted and cleared, an unreadable snapshot moved aside and never overwritten.

use std::os::unix::fs::PermissionsExt;

use std::sync::Arc;

use crate::shape::Shapes;

use super::{PersistError, StateDir, SNAPSHOT_FILE};
use crate::recorder::{Recorder, RecorderSettings};

/// An empty recorder to save.
fn empty() -> Recorder {
    Recorder::new(RecorderSettings::default(), Arc::new(Shapes::new(10, 4096)))
}

#[test]
fn a_saved_snapshot_is_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    state.save(&empty()).unwrap();
    let mode = std::fs::metadata(state.snapshot_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    assert_eq!(state.health().report().status, "ok");
}

#[test]
fn a_save_that_fails_names_the_os_error_counts_it_and_clears_after_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state");
    let state = StateDir::open(&state_path).unwrap();
    // A file in place of the directory fails for root too (ENOTDIR).
    std::fs::remove_dir(&state_path).unwrap();
    std::fs::write(&state_path, b"not a directory").unwrap();
    let error = state.save(&empty()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PersistError::Io { .. }), "{error:?}");
    assert!(text.contains("Not a directory"), "{text}");
    assert!(!text.contains("not a valid pgscope snapshot"), "{text}");
    let report = state.health().report();
    assert_eq!(report.status, "degraded");
    assert_eq!(report.failures, 1);
    assert_eq!(report.error.as_deref(), Some(text.as_str()));

    std::fs::remove_file(&state_path).unwrap();
    std::fs::create_dir(&state_path).unwrap();
    state.save(&empty()).unwrap();
    let report = state.health().report();
    assert_eq!(report.status, "ok");
    assert_eq!(report.error, None);
    assert_eq!(report.failures, 1, "the counter keeps counting");
}

#[test]
fn an_unreadable_snapshot_at_start_is_moved_aside_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let history = br#"{"version":1,"meta":{"since_ms":0,"#;
    std::fs::write(state.snapshot_path(), history).unwrap();
    assert!(state.restore().is_none());
    let report = state.health().report();
    assert_eq!(report.status, "degraded");
    let aside = report.set_aside.expect("the snapshot was set aside");
    let name = aside
        .moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("{SNAPSHOT_FILE}.corrupt-")) && name.ends_with('Z'),
        "{name}"
    );
    assert!(
        aside.error.contains("not a valid pgscope snapshot"),
        "{}",
        aside.error
    );
    assert_eq!(std::fs::read(&aside.moved_to).unwrap(), history);

    state.save(&empty()).unwrap();
    assert_eq!(std::fs::read(&aside.moved_to).unwrap(), history);
    let report = state.health().report();
    assert_eq!(report.status, "ok");
    assert!(
        report.set_aside.is_some(),
        "still reported after the next save"
    );
}

#[test]
fn a_missing_snapshot_at_start_is_no_failure() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    assert!(state.restore().is_none());
    assert_eq!(state.health().report().status, "ok");
    assert_eq!(state.health().failures(), 0);
}
