//! `pgscope report`: the top-slow-query profile from a running pgscope's admin API, as text,
//! JSON or one self-contained HTML file, optionally compared with a saved snapshot
//! (`--baseline FILE`, from `pgscope snapshot save`).

pub mod client;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use pgscope_exporters::report::{self, html, text, Report};
use pgscope_exporters::view::{Filter, Query, SortKey, Span};
use pgscope_exporters::{read_snapshot, StatsSource};

use client::AdminClient;

/// Where `pgscope top|report|snapshot` find the admin API.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Address of pgscope's admin API
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9187")]
    pub admin: String,
    /// Bearer token of the admin API
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PGSCOPE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

impl AdminArgs {
    /// A client of the admin API.
    pub fn client(&self) -> AdminClient {
        AdminClient::new(&self.admin, self.token.clone())
    }
}

/// Output formats of `pgscope report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain text, pt-query-digest style.
    Text,
    /// The report as JSON.
    Json,
    /// One self-contained HTML file with a latency chart per query.
    Html,
}

/// Flags of `pgscope report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Only the last DURATION (e.g. 5m, 1h) instead of everything since start
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
    /// A saved snapshot to compare with (from `pgscope snapshot save`)
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Queries shown
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Ranking: total_time, p99, calls, errors or mean
    #[arg(long, default_value = "total_time")]
    pub sort: String,
    /// Only this database
    #[arg(long)]
    pub database: Option<String>,
    /// Only this user
    #[arg(long)]
    pub user: Option<String>,
    /// Only this application_name
    #[arg(long)]
    pub application: Option<String>,
    /// Write to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The admin API
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The bytes a query-string value keeps as written: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends `name=value` (the value percent-encoded) to a query string.
pub fn push_param(query: &mut String, name: &str, value: &str) {
    query.push(if query.is_empty() { '?' } else { '&' });
    query.push_str(name);
    query.push('=');
    query.extend(utf8_percent_encode(value, UNRESERVED));
}

impl ReportArgs {
    fn target(&self) -> String {
        let mut query = String::new();
        push_param(&mut query, "limit", &self.limit.to_string());
        push_param(&mut query, "sort", &self.sort);
        if let Some(window) = &self.window {
            push_param(&mut query, "window", window);
        }
        for (name, value) in [
            ("database", &self.database),
            ("user", &self.user),
            ("application", &self.application),
        ] {
            if let Some(value) = value {
                push_param(&mut query, name, value);
            }
        }
        format!("/api/v1/report{query}")
    }

    /// The query the report used, for reading the baseline the same way.
    fn baseline_query(&self, baseline: &dyn StatsSource) -> anyhow::Result<Query> {
        let span = match &self.window {
            None => Span::Cumulative,
            Some(text) => {
                let duration = humantime::parse_duration(text)
                    .with_context(|| format!("bad --window {text:?}"))?;
                let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                Span::last(ms, &baseline.meta().windows)
                    .with_context(|| format!("--window {text} does not fit the baseline"))?
            }
        };
        Ok(Query {
            sort: SortKey::parse(&self.sort)?,
            limit: self.limit,
            filter: Filter {
                database: self.database.clone(),
                user: self.user.clone(),
                application: self.application.clone(),
            },
            span,
        })
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => text::render(report),
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Html => html::render(report),
    })
}

/// Runs `pgscope report`.
pub fn run(args: &ReportArgs, mut stdout: impl Write) -> anyhow::Result<()> {
    let body = args.admin.client().get(&args.target())?;
    let mut report: Report = serde_json::from_slice(&body)
        .context("the admin API sent a report this pgscope cannot read")?;
    if let Some(path) = &args.baseline {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open baseline {}", path.display()))?;
        let baseline = read_snapshot(std::io::BufReader::new(file))
            .with_context(|| format!("baseline {}", path.display()))?;
        let query = args.baseline_query(&baseline)?;
        report.baseline = Some(report::compare(&report.rows, &baseline, &query));
    }
    let rendered = render(&report, args.format)?;
    match &args.output {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => stdout.write_all(rendered.as_bytes())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::push_param;

    #[test]
    fn values_keep_unreserved_bytes_and_escape_the_rest() {
        let mut query = String::new();
        push_param(&mut query, "sort", "total_time");
        push_param(&mut query, "user", "a b&c=d/é~.-");
        assert_eq!(query, "?sort=total_time&user=a%20b%26c%3Dd%2F%C3%A9~.-");
    }
}
