//! Session tests: each statement carries the `standard_conforming_strings` the server parses it
//! under, from `ParameterStatus`, and is read fail-safe while a change may be in flight.

use pgscope_fingerprint::ConformingStrings;
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::tests::Harness;
use crate::observer::may_change_strings;

/// The settings the statements finished so far were read under, with their texts (a
/// statement's setting is fixed when it is sent).
fn started(h: &Harness) -> Vec<(String, ConformingStrings)> {
    h.finished_events()
        .map(|q| (q.statement.text.to_string(), q.statement.strings))
        .collect()
}

fn answer(h: &mut Harness, tag: &str) {
    h.server(&[be::command_complete(tag), be::ready_for_query(b'I')]);
}

fn set_off(h: &mut Harness) {
    h.client(&[fe::query("SET standard_conforming_strings = off")]);
    h.server(&[
        be::command_complete("SET"),
        be::parameter_status("standard_conforming_strings", "off"),
        be::ready_for_query(b'I'),
    ]);
}

#[test]
fn statements_follow_the_reported_setting_and_split_where_the_server_does() {
    let mut h = Harness::ready();
    set_off(&mut h);
    h.client(&[fe::query(r"SELECT 'a\'; b'; SELECT 2")]);
    h.server(&[
        be::command_complete("SELECT 1"),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    let got = started(&h);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[1], (r"SELECT 'a\'; b'".into(), ConformingStrings::Off));
    h.client(&[fe::query("RESET standard_conforming_strings")]);
    h.server(&[
        be::command_complete("RESET"),
        be::parameter_status("standard_conforming_strings", "on"),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::query("SELECT 3")]);
    answer(&mut h, "SELECT 1");
    assert_eq!(started(&h).last().map(|s| s.1), Some(ConformingStrings::On));
}

#[test]
fn a_statement_pipelined_behind_a_possible_change_is_read_fail_safe() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SET standard_conforming_strings = off")]);
    h.client(&[fe::parse("", r"SELECT 'x\' FROM t", &[]), fe::sync()]);
    h.server(&[
        be::command_complete("SET"),
        be::parameter_status("standard_conforming_strings", "off"),
        be::ready_for_query(b'I'),
        be::parse_complete(),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::query("SELECT 1")]);
    answer(&mut h, "SELECT 1");
    let strings: Vec<_> = started(&h).into_iter().map(|s| s.1).collect();
    assert_eq!(strings, [ConformingStrings::On, ConformingStrings::Off]);
    let h2 = {
        let mut h = Harness::ready();
        h.client(&[fe::query("BEGIN")]);
        h.client(&[fe::query("ROLLBACK")]);
        h.client(&[fe::query("SELECT 2")]);
        h.server(&[
            be::command_complete("BEGIN"),
            be::ready_for_query(b'T'),
            be::command_complete("ROLLBACK"),
            be::ready_for_query(b'I'),
        ]);
        answer(&mut h, "SELECT 1");
        h
    };
    assert_eq!(
        started(&h2).last().map(|s| s.1),
        Some(ConformingStrings::Unknown)
    );
}

#[test]
fn what_may_change_the_setting_is_recognized_conservatively() {
    for sql in [
        "SET standard_conforming_strings = off",
        "set local STANDARD_CONFORMING_STRINGS to on",
        "SELECT set_config('standard_conforming_strings', 'off', false)",
        "RESET ALL",
        "DISCARD ALL",
        "ROLLBACK",
        " commit",
        "END",
        "ABORT",
        "PREPARE TRANSACTION 'x'",
    ] {
        assert!(may_change_strings(sql), "{sql}");
    }
    for sql in [
        "SELECT 1",
        "SET application_name = 'x'",
        "BEGIN",
        "select * from commits",
    ] {
        assert!(!may_change_strings(sql), "{sql}");
    }
}
