//! `pgscope top`: a live terminal view of the queries through a running pgscope, like `top`
//! for queries. It polls `/api/v1/fingerprints` every interval and redraws; keys (shown on
//! screen) change the ranking and the time span.
//!
//! The screen is drawn by [`view::draw`] from a plain [`view::Screen`] value, so what it shows
//! is tested with ratatui's test backend without a terminal or a server.

pub mod view;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use anyhow::Context;
use pgscope_exporters::growth::GrowthReport;
use pgscope_exporters::view::{Row, SortKey, Totals};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::report::{push_param, AdminArgs};
use view::Screen;

/// Spans `w` cycles through: everything since start, then recent windows.
pub const SPANS: [Option<&str>; 5] = [None, Some("1m"), Some("5m"), Some("15m"), Some("1h")];

/// Flags of `pgscope top`.
#[derive(Debug, Clone, clap::Args)]
pub struct TopArgs {
    /// Refresh interval, e.g. 2s, 500ms
    #[arg(long, short = 'n', default_value = "2s", value_name = "DURATION")]
    pub interval: String,
    /// Initial ranking: total_time, p99, calls, errors or mean
    #[arg(long, default_value = "total_time")]
    pub sort: String,
    /// Rows fetched
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// The admin API
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The API's list reply.
#[derive(Debug, serde::Deserialize)]
struct Listing {
    span: String,
    totals: Totals,
    fingerprints: Vec<Row>,
}

/// What a key press does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave.
    Quit,
    /// Rank by this key.
    Sort(SortKey),
    /// Next span.
    NextSpan,
    /// Refresh now.
    Refresh,
    /// Move the selection.
    Move(isize),
    /// Nothing.
    None,
}

/// The action of a key.
pub fn action_of(code: KeyCode, modifiers: KeyModifiers) -> Action {
    match code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('t') => Action::Sort(SortKey::TotalTime),
        KeyCode::Char('p') => Action::Sort(SortKey::P99),
        KeyCode::Char('c') => Action::Sort(SortKey::Calls),
        KeyCode::Char('e') => Action::Sort(SortKey::Errors),
        KeyCode::Char('m') => Action::Sort(SortKey::Mean),
        KeyCode::Char('w') => Action::NextSpan,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Down | KeyCode::Char('j') => Action::Move(1),
        KeyCode::Up | KeyCode::Char('k') => Action::Move(-1),
        _ => Action::None,
    }
}

fn fetch(args: &TopArgs, screen: &mut Screen) {
    let mut query = String::new();
    push_param(&mut query, "sort", screen.sort.as_str());
    push_param(&mut query, "limit", &args.limit.to_string());
    if let Some(window) = SPANS.get(screen.span).copied().flatten() {
        push_param(&mut query, "window", window);
    }
    let result = args
        .admin
        .client()
        .get(&format!("/api/v1/fingerprints{query}"))
        .map_err(anyhow::Error::from)
        .and_then(|body| serde_json::from_slice::<Listing>(&body).map_err(anyhow::Error::from));
    match result {
        Ok(listing) => {
            screen.rows = listing.fingerprints;
            screen.totals = listing.totals;
            screen.span_label = listing.span;
            screen.error = None;
        }
        Err(error) => screen.error = Some(format!("{error:#}")),
    }
    // An older pgscope without the growth route: no flags, not an error.
    screen.flags = args
        .admin
        .client()
        .get("/api/v1/growth")
        .ok()
        .and_then(|body| serde_json::from_slice::<GrowthReport>(&body).ok())
        .map(|report| report.flags)
        .unwrap_or_default();
    screen.updated = Some(std::time::SystemTime::now());
}

/// Runs `pgscope top` until `q`.
pub fn run(args: &TopArgs) -> anyhow::Result<()> {
    let interval = humantime::parse_duration(&args.interval)
        .with_context(|| format!("bad --interval {:?}", args.interval))?
        .max(Duration::from_millis(100));
    let mut screen = Screen::new(&args.admin.admin, SortKey::parse(&args.sort)?);
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = (|| -> anyhow::Result<()> {
        let mut next = Instant::now();
        loop {
            if Instant::now() >= next {
                fetch(args, &mut screen);
                next = Instant::now() + interval;
            }
            terminal.draw(|frame| view::draw(frame, &screen))?;
            let wait = next.saturating_duration_since(Instant::now());
            if !event::poll(wait)? {
                continue;
            }
            let Event::Key(key) = event::read()? else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            match action_of(key.code, key.modifiers) {
                Action::Quit => return Ok(()),
                Action::Sort(sort) => {
                    screen.sort = sort;
                    next = Instant::now();
                }
                Action::NextSpan => {
                    screen.span = (screen.span + 1) % SPANS.len();
                    next = Instant::now();
                }
                Action::Refresh => next = Instant::now(),
                Action::Move(delta) => screen.move_selection(delta),
                Action::None => {}
            }
        }
    })();
    ratatui::restore();
    result
}
