"""psycopg 3 scenarios that tests/tests/suite/psycopg.rs runs through pgscope.

Usage: psycopg_client.py SCENARIO PROXY_URL [DIRECT_URL]

Each scenario checks its own results with assertions that say what was expected and what came
back; on success it prints one line, "ok " followed by a JSON summary the Rust test checks too,
and exits 0. Any failure is an uncaught exception: a traceback on stderr and a non-zero exit.
"""

import hashlib
import json
import sys

import psycopg
from psycopg import errors

PIPELINED_ROWS = 100
CURSOR_ROWS = 5000
COPY_ROWS = 3000


def pipeline(url):
    """Pipeline mode: a batch of INSERT … RETURNING, then a batch with a failing statement."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE pipe (id int PRIMARY KEY, label text)")
        with conn.pipeline() as p:
            cursors = [
                conn.execute(
                    "INSERT INTO pipe VALUES (%s, %s) RETURNING id * 10", (i, f"row {i}")
                )
                for i in range(1, PIPELINED_ROWS + 1)
            ]
            series = conn.execute("SELECT count(*), sum(g) FROM generate_series(1, 1000) g")
            p.sync()
            returned = [cur.fetchone()[0] for cur in cursors]
            totals = series.fetchone()
        expected = [i * 10 for i in range(1, PIPELINED_ROWS + 1)]
        assert returned == expected, f"RETURNING values {returned} != {expected}"
        assert totals == (1000, 500500), f"series totals {totals}"

        # Second pipeline: one sync point that succeeds, then one whose middle statement fails.
        # The server skips to the Sync: the statements of the failing segment are rolled back
        # (implicit transaction) or never run; the earlier segment stays committed.
        sqlstate = None
        try:
            with conn.pipeline() as p:
                conn.execute("INSERT INTO pipe VALUES (%s, %s)", (1001, "kept"))
                p.sync()
                conn.execute("INSERT INTO pipe VALUES (%s, %s)", (1002, "rolled back"))
                conn.execute("INSERT INTO pipe VALUES (%s, %s)", (5, "duplicate key"))
                conn.execute("INSERT INTO pipe VALUES (%s, %s)", (1003, "skipped"))
        except errors.UniqueViolation as exc:
            sqlstate = exc.sqlstate
        assert sqlstate == "23505", f"expected a unique violation, got {sqlstate!r}"

        # The connection is usable after the failed pipeline, in and out of pipeline mode.
        with conn.pipeline():
            after = conn.execute("SELECT count(*), max(id) FROM pipe").fetchone()
        ids = [r[0] for r in conn.execute("SELECT id FROM pipe WHERE id > 1000 ORDER BY id")]
        assert after == (PIPELINED_ROWS + 1, 1001), f"rows after the failure: {after}"
        assert ids == [1001], f"ids above 1000: {ids}"
        return {"rows": after[0], "sqlstate": sqlstate}


def cursor(url):
    """Server-side (named) cursors: itersize, fetchmany, iteration and scrolling."""
    with psycopg.connect(url) as conn:
        with conn.cursor(name="big_cursor") as cur:
            cur.itersize = 100
            cur.execute(
                "SELECT g, md5(g::text) FROM generate_series(1, %s) g ORDER BY g", (CURSOR_ROWS,)
            )
            names = [r[0] for r in conn.execute("SELECT name FROM pg_cursors")]
            assert "big_cursor" in names, f"no server-side cursor, pg_cursors has {names}"
            first = cur.fetchmany(250)
            assert [r[0] for r in first] == list(range(1, 251)), "first fetchmany(250)"
            second = cur.fetchmany(250)
            assert [r[0] for r in second] == list(range(251, 501)), "second fetchmany(250)"
            rest = list(cur)
            got = [r[0] for r in rest]
            assert got == list(range(501, CURSOR_ROWS + 1)), f"iteration returned {len(got)} rows"
            for g, digest in first + second + rest:
                assert digest == hashlib.md5(str(g).encode()).hexdigest(), f"md5 of row {g}"
            fetched = len(first) + len(second) + len(rest)
        with conn.cursor(name="scroller", scrollable=True) as cur:
            cur.execute("SELECT g FROM generate_series(1, 100) g")
            cur.scroll(90, mode="absolute")
            at_90 = cur.fetchone()[0]
            cur.scroll(-51)
            back = cur.fetchone()[0]
            assert (at_90, back) == (91, 41), f"scrolling returned {(at_90, back)}"
        conn.commit()
    return {"rows": fetched}


def copy_rows():
    rows = []
    for i in range(COPY_ROWS):
        note = None if i % 10 == 0 else f"note\t{i}\n\\ ✓"
        rows.append((i, f"name {i}", i * 1.25, bytes(range(i % 64)), note))
    return rows


COPY_TYPES = ["int4", "text", "float8", "bytea", "text"]
COPY_OUT = "COPY (SELECT id, name, score, data, note FROM bin_copy ORDER BY id) TO STDOUT (FORMAT BINARY)"


def raw_copy_out(url):
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy(COPY_OUT) as copy:
                return b"".join(bytes(chunk) for chunk in copy)


def copy(url, direct_url):
    """Binary COPY FROM STDIN row by row, then binary COPY TO STDOUT, compared."""
    rows = copy_rows()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bin_copy (id int4, name text, score float8, data bytea, note text)")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY bin_copy (id, name, score, data, note) FROM STDIN (FORMAT BINARY)"
            ) as cp:
                cp.set_types(COPY_TYPES)
                for row in rows:
                    cp.write_row(row)
            assert cur.rowcount == COPY_ROWS, f"COPY FROM reported {cur.rowcount} rows"
            with cur.copy(COPY_OUT) as cp:
                cp.set_types(COPY_TYPES)
                back = list(cp.rows())
        assert len(back) == COPY_ROWS, f"COPY TO returned {len(back)} rows"
        for sent, got in zip(rows, back):
            assert sent == got, f"row sent {sent!r} came back as {got!r}"
    via_proxy = raw_copy_out(url)
    direct = raw_copy_out(direct_url)
    assert via_proxy == direct, (
        f"binary COPY TO STDOUT: {len(via_proxy)} bytes through pgscope, {len(direct)} direct"
    )
    assert via_proxy.startswith(b"PGCOPY\n\xff\r\n\0"), "not a binary COPY stream"
    return {"rows": len(back), "copy_out_bytes": len(via_proxy)}


def sslmode(url):
    """sslmode=prefer falls back to a clear connection (pgscope answers N); require is refused."""
    with psycopg.connect(url, sslmode="prefer", gssencmode="prefer") as conn:
        assert not conn.info.pgconn.ssl_in_use, "an SSL session was negotiated"
        one = conn.execute("SELECT 1").fetchone()[0]
        assert one == 1
    refused = None
    try:
        psycopg.connect(url, sslmode="require").close()
    except psycopg.OperationalError as exc:
        refused = str(exc)
    assert refused is not None, "sslmode=require connected without TLS"
    assert "server does not support SSL" in refused, f"unexpected refusal: {refused}"
    return {"prefer": "connected", "require": "refused"}


SCENARIOS = {"pipeline": pipeline, "cursor": cursor, "copy": copy, "sslmode": sslmode}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}} PROXY_URL [DIRECT_URL]")
    summary = SCENARIOS[sys.argv[1]](*sys.argv[2:])
    print("ok " + json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
