//! The flags of `pgscope run`. Every flag is an `Option<String>` so that "absent" differs from
//! "set to the default", and so that parsing (with errors naming the flag) happens in one place,
//! the validation stage, exactly as for the file and the environment.

use std::path::PathBuf;

/// Flags of `pgscope run`; each overrides the same key from the environment and the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// TOML config file (default: $PGSCOPE_CONFIG, else none)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where clients connect: HOST:PORT or a socket directory, comma-separated for several
    /// [default: 127.0.0.1:6432]
    #[arg(long, value_name = "ADDRS")]
    pub listen: Option<String>,
    /// PostgreSQL server, postgres://HOST:PORT[?sslmode=…] or HOST:PORT [default: a throw-away
    /// local cluster]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Address of the admin HTTP server [default: 127.0.0.1:9187]
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// Longest protocol message accepted, e.g. 64MB, 1GiB [default: 1GiB]
    #[arg(long, value_name = "SIZE")]
    pub max_message_size: Option<String>,
    /// exact (a Flush after each pipelined Execute, so each statement is timed on its own) or
    /// batch (the client's bytes only) [default: exact]
    #[arg(long, value_name = "MODE")]
    pub pipeline_timing: Option<String>,
    /// Upstream connect timeout, e.g. 5s, 500ms [default: 5s]
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Limit on a client's startup, TLS and authentication included [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub startup_timeout: Option<String>,
    /// How long in-flight sessions may finish after SIGTERM [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// After handing the listening sockets to a new process (SIGQUIT, SIGUSR2), how long open
    /// sessions keep being served before the drain [default: 5m]
    #[arg(long, value_name = "DURATION")]
    pub handover_grace: Option<String>,
    /// Cap on concurrent client connections [default: 10000]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    /// Cap on connections still in startup; when full the oldest is evicted [default: 1000]
    #[arg(long, value_name = "N")]
    pub max_startup_connections: Option<String>,
    /// Worker threads [default: half the CPUs, rounded up]
    #[arg(long, value_name = "N")]
    pub threads: Option<String>,
    /// error, warn, info, debug or trace [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// text, or json (one JSON object per line) [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Bearer token required by the admin API [default: none, the API is open]
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Take over from the pgscope running with the same `listen`: receive its listening
    /// sockets once it gets SIGQUIT (it then drains and exits), so no client is refused
    #[arg(long)]
    pub upgrade: bool,
}

impl RunArgs {
    /// Each key settable by a flag, with the flag's value. The flag is spelled `--` plus the key
    /// with `_` → `-`, which is also clap's spelling of the field.
    pub(crate) fn values(&self) -> [(&'static str, Option<&String>); 15] {
        [
            ("listen", self.listen.as_ref()),
            ("upstream", self.upstream.as_ref()),
            ("admin", self.admin.as_ref()),
            ("max_message_size", self.max_message_size.as_ref()),
            ("pipeline_timing", self.pipeline_timing.as_ref()),
            ("connect_timeout", self.connect_timeout.as_ref()),
            ("startup_timeout", self.startup_timeout.as_ref()),
            ("shutdown_grace", self.shutdown_grace.as_ref()),
            ("handover_grace", self.handover_grace.as_ref()),
            ("max_connections", self.max_connections.as_ref()),
            (
                "max_startup_connections",
                self.max_startup_connections.as_ref(),
            ),
            ("threads", self.threads.as_ref()),
            ("log_level", self.log_level.as_ref()),
            ("log_format", self.log_format.as_ref()),
            ("admin_token", self.admin_token.as_ref()),
        ]
    }
}
