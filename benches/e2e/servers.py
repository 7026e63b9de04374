"""The servers under test: one PostgreSQL cluster, pgscope and PgBouncer, and their cleanup.

Every server runs in its own session (so a terminal Ctrl-C reaches only the driver, which then
stops them in order) with a parent-death signal (so they stop even if the driver is killed).
PostgreSQL and PgBouncer run as the `postgres` OS user, in a temp dir that user owns.
With `opts.tls` (compare.sh --tls) every hop is TLS: the cluster runs with `ssl = on`, pgscope
gets `PGSCOPE_TLS_CERT`/`PGSCOPE_TLS_KEY` (mode allow) and `sslmode=require` upstream, PgBouncer
`client_tls_sslmode = require` and `server_tls_sslmode = require`; the certificates come from
certs.py, and every libpq client started afterwards uses TLS (PGSSLMODE=require).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from certs import Certs, make_certs
from workloads import BenchError, log

PR_SET_PDEATHSIG = 1
# SIGINT is PgBouncer's "safe shutdown": it waits for clients; they are gone by then.
PGBOUNCER_STOP = signal.SIGINT


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pdeathsig(sig: int):
    """A preexec_fn asking the kernel to send `sig` to the child when this script dies."""
    libc = ctypes.CDLL(None, use_errno=True)

    def set_it() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return set_it


@dataclass
class Managed:
    """A long-running server this script started, and how to stop it."""

    name: str
    proc: subprocess.Popen
    stop_signal: int
    log: Path

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self, grace: float) -> None:
        """Sends the stop signal; SIGKILL if the process is still there after `grace` s."""
        if not self.alive():
            return
        try:
            self.proc.send_signal(self.stop_signal)
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's stdout + stderr, for error messages."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


class Servers:
    """Owns the temp dir and every process; `close()` undoes all of it."""

    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="pgscope-e2e-"))
        self.postgres_user = pwd.getpwnam("postgres")
        os.chown(self.tmp, self.postgres_user.pw_uid, self.postgres_user.pw_gid)
        self.managed: list[Managed] = []
        self.ports: dict[str, int] = {}
        self.bin = Path(opts.pg_bin)
        # Made by start_postgres when TLS is on (builds.py and instructions.py have no --tls).
        self.certs: Certs | None = None
        self.tls = bool(getattr(opts, "tls", False))
        if self.tls:
            # Every libpq client started from here (pg_isready, psql, pgbench) inherits it.
            os.environ["PGSSLMODE"] = "require"

    # -- helpers ---------------------------------------------------------------------------

    def run_as_postgres(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        """Runs a short command as the `postgres` user in the temp dir, output captured."""
        return subprocess.run(
            [str(c) for c in cmd],
            user=self.postgres_user.pw_uid,
            group=self.postgres_user.pw_gid,
            extra_groups=[],
            cwd=self.tmp,
            capture_output=True,
            text=True,
            **kw,
        )

    def spawn(self, name: str, cmd: list[str], stop_signal: int, as_postgres: bool,
              env: dict[str, str] | None = None) -> Managed:
        """Starts a server logging to `<tmp>/<name>.log` (with `env` added to the environment)
        and registers it for cleanup."""
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            kw: dict = {}
            if as_postgres:
                kw = dict(user=self.postgres_user.pw_uid, group=self.postgres_user.pw_gid,
                          extra_groups=[])
            proc = subprocess.Popen(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                # Own session: a Ctrl-C in the terminal reaches this script, which then stops
                # the servers in order, rather than every server at once.
                start_new_session=True,
                preexec_fn=_pdeathsig(stop_signal),
                env={**os.environ, **(env or {})},
                **kw,
            )
        managed = Managed(name, proc, stop_signal, log)
        self.managed.append(managed)
        return managed

    def wait_ready(self, managed: Managed, port: int, timeout: float = 60.0) -> None:
        """Waits until a PostgreSQL startup through `port` is answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not managed.alive():
                raise BenchError(f"{managed.name} exited with status {managed.proc.returncode}:\n"
                                 f"{managed.log_tail()}")
            probe = subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
                 "-U", "postgres", "-d", "postgres", "-t", "2"],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise BenchError(f"{managed.name} not ready on port {port} after {timeout:.0f}s:\n"
                         f"{managed.log_tail()}")

    def psql(self, sql: list[str], port: int | None = None, db: str = "bench") -> str:
        """Runs each statement (its own transaction) with psql, by default direct."""
        cmd = [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
               "-h", "127.0.0.1", "-p", str(port or self.ports["direct"]), "-U", "postgres",
               "-d", db]
        for statement in sql:
            cmd += ["-c", statement]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise BenchError(f"psql {sql!r} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    # -- PostgreSQL ------------------------------------------------------------------------

    def start_postgres(self) -> None:
        """initdb, benchmark settings, start, `pgbench -i` into database `bench`."""
        port = self.ports["direct"] = free_port()
        data = self.tmp / "data"
        init = self.run_as_postgres([self.bin / "initdb", "-D", data, "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        if init.returncode != 0:
            raise BenchError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{self.tmp}'",
            "max_connections": str(getattr(self.opts, "max_connections", 200)),
            "shared_buffers": "'256MB'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_wal_size": "'8GB'",
            "checkpoint_timeout": "'1h'",
            "autovacuum": "off",
            "jit": "off",
            "logging_collector": "off",
        }
        if self.tls:
            self.certs = make_certs(self.tmp / "tls", self.postgres_user)
            settings.update(ssl="on", ssl_cert_file=f"'{self.certs.cert}'",
                            ssl_key_file=f"'{self.certs.key}'")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# pgscope e2e benchmark\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        # SIGINT is PostgreSQL's "fast" shutdown (also its parent-death signal here).
        pg = self.spawn("postgres", [self.bin / "postgres", "-D", data], signal.SIGINT,
                        as_postgres=True)
        self.wait_ready(pg, port)
        self.psql(["CREATE DATABASE bench"], db="postgres")
        log(f"PostgreSQL on 127.0.0.1:{port}; pgbench -i -s {self.opts.scale} ...")
        init = subprocess.run(
            [str(self.bin / "pgbench"), "-i", "-q", "-s", str(self.opts.scale),
             "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"],
            capture_output=True, text=True)
        if init.returncode != 0:
            raise BenchError(f"pgbench -i failed:\n{init.stderr}")
        self.psql(["VACUUM ANALYZE", "CHECKPOINT"])

    # -- proxies ---------------------------------------------------------------------------

    def pgscope_command(self, binary: Path, port: int, admin: int | None = None,
                        config: Path | None = None) -> list:
        """`pgscope run` in front of the cluster on `port` (admin API on `admin`, else a free
        port), with `--config` and the `--pgscope-threads` option when given."""
        upstream = f"postgres://127.0.0.1:{self.ports['direct']}"
        if self.tls:
            upstream += "?sslmode=require"
        cmd = [binary, "run", "--listen", f"127.0.0.1:{port}", "--upstream", upstream,
               "--admin", f"127.0.0.1:{admin or free_port()}", "--shutdown-grace", "2s"]
        if config is not None:
            cmd += ["--config", config]
        if self.opts.pgscope_threads:
            cmd += ["--threads", str(self.opts.pgscope_threads)]
        return cmd

    def pgscope_env(self) -> dict[str, str]:
        """pgscope's TLS server settings when TLS is on (mode allow: the TLS clients' choice)."""
        if self.certs is None:
            return {}
        return {"PGSCOPE_TLS_CERT": str(self.certs.cert), "PGSCOPE_TLS_KEY": str(self.certs.key),
                "PGSCOPE_TLS_MODE": "allow"}

    def start_pgscope(self, binary: Path, name: str = "pgscope",
                      extra_args: tuple[str, ...] = ()) -> None:
        """pgscope in front of the cluster, on a free port, admin API on another, as target
        `name` with `extra_args` (e.g. `--pipeline-timing batch`) added to its command."""
        port = self.ports[name] = free_port()
        managed = self.spawn(name, self.pgscope_command(binary, port) + list(extra_args),
                             signal.SIGTERM, as_postgres=False, env=self.pgscope_env())
        self.wait_ready(managed, port)

    def pgbouncer_command(self, binary: Path, port: int) -> list:
        """PgBouncer in session mode in front of the cluster on `port`: writes its ini (and
        userlist) into the temp dir and returns the command that runs it (as postgres)."""
        (self.tmp / "userlist.txt").write_text('"postgres" ""\n')
        ini = self.tmp / f"pgbouncer-{port}.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.ports['direct']}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.tmp / 'userlist.txt'}\n"
            "pool_mode = session\n"
            "max_client_conn = 200\n"
            "default_pool_size = 100\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "log_stats = 0\n"
            "verbose = 0\n"
            + ("" if self.certs is None else
               "client_tls_sslmode = require\n"
               f"client_tls_key_file = {self.certs.key}\n"
               f"client_tls_cert_file = {self.certs.cert}\n"
               "server_tls_sslmode = require\n")
        )
        for path in (ini, self.tmp / "userlist.txt"):
            os.chown(path, self.postgres_user.pw_uid, self.postgres_user.pw_gid)
        return [binary, ini]

    def start_pgbouncer(self, binary: Path) -> None:
        """PgBouncer in session mode in front of the cluster, on a free port."""
        port = self.ports["pgbouncer"] = free_port()
        managed = self.spawn("pgbouncer", self.pgbouncer_command(binary, port), PGBOUNCER_STOP,
                             as_postgres=True)
        self.wait_ready(managed, port)

    def proxy(self, target: str) -> Managed | None:
        """The process serving `target`, or None for direct."""
        return next((m for m in self.managed if m.name == target), None)

    # -- cleanup ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stops every server (proxies first) and removes the temp dir unless `--keep`."""
        # Proxies first (their clients are gone), PostgreSQL last.
        for managed in reversed(self.managed):
            try:
                managed.stop(grace=15.0)
            except Exception as err:  # keep cleaning up the rest
                log(f"stopping {managed.name}: {err}")
        if self.opts.keep:
            log(f"kept {self.tmp} (--keep)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
