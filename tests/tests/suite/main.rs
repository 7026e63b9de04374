//! pgscope's integration tests, one binary (ripgrep's layout): every module below starts its
//! own throw-away PostgreSQL cluster (initdb in a temporary directory, a free port, run as the
//! `postgres` OS user when the tests run as root) and the real `pgscope` binary in front of it,
//! and talks to them with real clients — psql, pgbench, tokio-postgres, psycopg, a browser, a
//! real Prometheus. One binary links once and reads as one suite; `cargo test -p pgscope-tests
//! --test suite MODULE::` runs one module.

mod admin_hardening;
mod admission;
mod auth;
mod batched_query;
mod byte_exact;
mod capture;
mod check_config;
mod conforming_strings;
mod deploy_files;
mod embedded_exits;
mod failures;
mod fingerprint_oracle;
mod growth;
mod growth_scenario;
mod latency_oracle;
mod operations;
mod orm_corpus;
mod otel;
mod otel_export;
mod pgbench;
mod pipeline_timing;
mod prometheus;
mod psql;
mod psycopg;
mod recorder;
mod reload;
mod reload_observers;
mod replay;
mod replay_engine;
mod report;
mod shutdown;
mod smoke;
mod snapshot_failures;
mod systemd_notify;
mod tls;
mod tls_byte_exact;
mod tls_clients;
mod tls_failures;
mod tokio_postgres;
mod upgrade;
