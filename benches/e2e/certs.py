"""Throw-away TLS material for `compare.sh --tls`, made with the `openssl` CLI at run time.

One EC P-256 CA and one server certificate it signs (CN and subjectAltName `localhost` and
`127.0.0.1`), valid for two days, written into the benchmark's temp dir and removed with it;
no key is ever committed. PostgreSQL, pgscope and PgBouncer all present this one certificate:
the key is owned by the `postgres` OS user with mode 0600, as PostgreSQL requires, which
PgBouncer (run as `postgres`) and pgscope (run as root) can read too.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workloads import BenchError

EC_P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Certs:
    """Where the CA certificate and the server's certificate and key are."""

    ca: Path
    cert: Path
    key: Path


def _openssl(args: list, cwd: Path) -> None:
    """Runs `openssl ARGS` in `cwd`; BenchError with its stderr if it fails."""
    done = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_certs(directory: Path, owner: pwd.struct_passwd) -> Certs:
    """A CA and a server certificate + key in `directory`; the key owned by `owner`, 0600."""
    directory.mkdir(mode=0o755, exist_ok=True)
    certs = Certs(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    (directory / "san.ext").write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    _openssl(["req", "-x509", *EC_P256, "-keyout", "ca.key", "-out", certs.ca, "-days", "2",
              "-subj", "/CN=pgscope-bench-ca"], directory)
    _openssl(["req", *EC_P256, "-keyout", certs.key, "-out", "server.csr",
              "-subj", "/CN=localhost"], directory)
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", certs.ca, "-CAkey", "ca.key",
              "-CAcreateserial", "-out", certs.cert, "-days", "2", "-extfile", "san.ext"],
             directory)
    os.chown(certs.key, owner.pw_uid, owner.pw_gid)
    os.chmod(certs.key, 0o600)
    return certs
