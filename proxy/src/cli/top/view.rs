//! Drawing `pgscope top`'s screen from a [`Screen`] value.

use pgscope_exporters::growth::Flag;
use pgscope_exporters::view::{Row, SortKey, Totals};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table, TableState};
use ratatui::Frame;

/// Everything on screen.
#[derive(Debug, Clone)]
pub struct Screen {
    /// The admin address polled.
    pub admin: String,
    /// Current ranking.
    pub sort: SortKey,
    /// Index into [`super::SPANS`].
    pub span: usize,
    /// The span as the API described it.
    pub span_label: String,
    /// The rows, ranked.
    pub rows: Vec<Row>,
    /// Totals over all entries of the span.
    pub totals: Totals,
    /// The selected row.
    pub selected: usize,
    /// The last fetch error, if the last fetch failed.
    pub error: Option<String>,
    /// When the rows were fetched.
    pub updated: Option<std::time::SystemTime>,
    /// Degrading hot paths (the growth detector's flags), most impact first.
    pub flags: Vec<Flag>,
}

impl Screen {
    /// An empty screen.
    pub fn new(admin: &str, sort: SortKey) -> Self {
        Screen {
            admin: admin.to_owned(),
            sort,
            span: 0,
            span_label: "cumulative".to_owned(),
            rows: Vec::new(),
            totals: Totals::default(),
            selected: 0,
            error: None,
            updated: None,
            flags: Vec::new(),
        }
    }

    /// Moves the selection by `delta` rows, staying on the list.
    pub fn move_selection(&mut self, delta: isize) {
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }
}

/// Most growth flags listed above the table.
const MAX_FLAGS_SHOWN: usize = 3;

/// The key help line.
pub const KEYS: &str =
    "keys: t total  p p99  c calls  e errors  m mean  w window  r refresh  ↑↓ select  q quit";

fn sort_name(sort: SortKey) -> &'static str {
    match sort {
        SortKey::TotalTime => "total time",
        SortKey::P99 => "p99",
        SortKey::Calls => "calls",
        SortKey::Errors => "errors",
        SortKey::Mean => "mean",
    }
}

fn number(ms: f64) -> String {
    if ms >= 100_000.0 {
        format!("{:.0}", ms)
    } else if ms >= 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

/// Draws the screen.
pub fn draw(frame: &mut Frame<'_>, screen: &Screen) {
    let shown_flags = screen.flags.len().min(MAX_FLAGS_SHOWN);
    let flags_height = if shown_flags == 0 {
        0
    } else {
        shown_flags as u16 + 2
    };
    let [header, flags, table, detail, help] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(flags_height),
        Constraint::Min(5),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let totals = &screen.totals;
    let status = match &screen.error {
        Some(error) => Span::styled(
            format!("  error: {error}"),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        None => Span::raw(""),
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled("pgscope top", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(format!(
                    "  {}  sorted by {}  span: {}",
                    screen.admin,
                    sort_name(screen.sort),
                    screen.span_label
                )),
            ]),
            Line::from(vec![
                Span::raw(format!(
                    "{} queries  {} calls  {} errors  {} ms total",
                    totals.entries,
                    totals.calls,
                    totals.errors,
                    number(totals.total_ms)
                )),
                status,
            ]),
        ]),
        header,
    );
    if shown_flags > 0 {
        let mut lines = vec![Line::from(Span::styled(
            format!("Degrading hot paths ({})", screen.flags.len()),
            Style::new().add_modifier(Modifier::BOLD),
        ))];
        for flag in screen.flags.iter().take(MAX_FLAGS_SHOWN) {
            let elasticity = flag
                .p50_elasticity
                .map_or(String::new(), |e| format!(" e={:.2}", e.value));
            lines.push(Line::from(format!(
                "{} {:<22} {}{}  {}",
                flag.fingerprint, flag.class, flag.summary, elasticity, flag.explanation
            )));
        }
        frame.render_widget(
            Paragraph::new(lines).block(Block::new().borders(Borders::BOTTOM)),
            flags,
        );
    }
    let heading = [
        "Fingerprint",
        "Total ms",
        "Calls",
        "Mean",
        "p50",
        "p95",
        "p99",
        "Max",
        "Err",
        "Rows/c",
        "Summary",
    ];
    let rows = screen.rows.iter().map(|row| {
        TableRow::new(vec![
            Cell::from(row.fingerprint.clone()),
            Cell::from(number(row.total_ms)),
            Cell::from(row.calls.to_string()),
            Cell::from(number(row.mean_ms)),
            Cell::from(number(row.p50_ms)),
            Cell::from(number(row.p95_ms)),
            Cell::from(number(row.p99_ms)),
            Cell::from(number(row.max_ms)),
            Cell::from(row.error_count.to_string()),
            Cell::from(format!("{:.1}", row.rows_per_call)),
            Cell::from(row.summary.clone()),
        ])
    });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let table_widget = Table::new(rows, widths)
        .header(TableRow::new(heading).style(Style::new().add_modifier(Modifier::REVERSED)))
        .row_highlight_style(Style::new().add_modifier(Modifier::BOLD))
        .highlight_symbol("")
        .block(Block::new().borders(Borders::BOTTOM));
    let mut state = TableState::default().with_selected(if screen.rows.is_empty() {
        None
    } else {
        Some(screen.selected)
    });
    frame.render_stateful_widget(table_widget, table, &mut state);
    let selected = screen.rows.get(screen.selected);
    let text = match selected {
        Some(row) => format!(
            "{}  db={} user={} app={}\n{}",
            row.fingerprint, row.database, row.user, row.application, row.query
        ),
        None => "no queries recorded yet".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }),
        detail,
    );
    frame.render_widget(Paragraph::new(KEYS), help);
}
