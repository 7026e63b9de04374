//! `pgscope top`'s screen, drawn on ratatui's test backend.

use pgscope_exporters::view::{Row, SortKey, Totals};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use ratatui::Terminal;

use super::view::{draw, Screen, KEYS};
use super::{action_of, Action};

fn row(fingerprint: &str, summary: &str, calls: u64, total_ms: f64) -> Row {
    Row {
        fingerprint: fingerprint.to_owned(),
        database: "shop".to_owned(),
        user: "web".to_owned(),
        application: "api".to_owned(),
        query: format!("select * from {summary} where id = $1"),
        summary: format!("SELECT {summary}"),
        operation: "SELECT".to_owned(),
        tables: vec![summary.to_owned()],
        calls,
        batched_calls: 0,
        batch_mean_ms: None,
        errors: Default::default(),
        error_count: 0,
        skipped: 0,
        rows: calls,
        rows_per_call: 1.0,
        total_ms,
        mean_ms: total_ms / calls as f64,
        p50_ms: 1.0,
        p95_ms: 2.0,
        p99_ms: 3.0,
        max_ms: 4.0,
        first_seen: String::new(),
        last_seen: String::new(),
        distribution: Vec::new(),
    }
}

fn screen_text(screen: &Screen) -> String {
    let mut terminal = Terminal::new(TestBackend::new(130, 20)).unwrap();
    terminal.draw(|frame| draw(frame, screen)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[test]
fn top_renders_rows_in_rank_order_with_keys() {
    let mut screen = Screen::new("127.0.0.1:9187", SortKey::TotalTime);
    screen.rows = vec![
        row("00000000000000aa", "orders", 1200, 3456.5),
        row("00000000000000bb", "users", 40, 12.25),
    ];
    screen.totals = Totals {
        entries: 2,
        calls: 1240,
        errors: 0,
        total_ms: 3468.75,
    };
    let text = screen_text(&screen);
    let first = text.find("00000000000000aa").expect("first row shown");
    let second = text.find("00000000000000bb").expect("second row shown");
    assert!(first < second, "{text}");
    assert!(text.contains("SELECT orders"));
    assert!(text.contains("1200"));
    assert!(text.contains("sorted by total time"));
    assert!(text.contains("2 queries  1240 calls"));
    assert!(text.contains(&KEYS[..30]), "{text}");
    assert!(
        text.contains("select * from orders where id = $1"),
        "the selected query's text"
    );
}

#[test]
fn top_shows_fetch_errors_and_empty_state() {
    let mut screen = Screen::new("127.0.0.1:1", SortKey::P99);
    screen.error = Some("cannot reach the admin API".to_owned());
    let text = screen_text(&screen);
    assert!(text.contains("error: cannot reach the admin API"));
    assert!(text.contains("no queries recorded yet"));
    assert!(text.contains("sorted by p99"));
}

#[test]
fn keys_map_to_actions() {
    let none = KeyModifiers::NONE;
    assert_eq!(action_of(KeyCode::Char('q'), none), Action::Quit);
    assert_eq!(
        action_of(KeyCode::Char('c'), KeyModifiers::CONTROL),
        Action::Quit
    );
    assert_eq!(
        action_of(KeyCode::Char('p'), none),
        Action::Sort(SortKey::P99)
    );
    assert_eq!(
        action_of(KeyCode::Char('c'), none),
        Action::Sort(SortKey::Calls)
    );
    assert_eq!(action_of(KeyCode::Char('w'), none), Action::NextSpan);
    assert_eq!(action_of(KeyCode::Down, none), Action::Move(1));
}

#[test]
fn selection_stays_on_the_list() {
    let mut screen = Screen::new("x", SortKey::TotalTime);
    screen.rows = vec![row("a", "t", 1, 1.0), row("b", "t", 1, 1.0)];
    screen.move_selection(5);
    assert_eq!(screen.selected, 1);
    screen.move_selection(-9);
    assert_eq!(screen.selected, 0);
}

#[test]
fn top_lists_degrading_hot_paths_above_the_table() {
    let mut screen = Screen::new("x", SortKey::TotalTime);
    screen.rows = vec![row("00000000000000aa", "orders", 10, 5.0)];
    screen.flags = vec![pgscope_exporters::growth::Flag {
        fingerprint: "00000000000000aa".to_owned(),
        class: "scan_growth".to_owned(),
        summary: "SELECT orders".to_owned(),
        explanation: "orders grew 4.0x".to_owned(),
        ..Default::default()
    }];
    let text = screen_text(&screen);
    let section = text.find("Degrading hot paths (1)").expect("section shown");
    assert!(text.contains("scan_growth"), "{text}");
    assert!(section < text.find("Total ms").unwrap(), "{text}");
}
