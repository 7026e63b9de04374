"""Client workload for tests/tests/suite/latency_oracle.rs, run through pgscope.

Usage: latency_oracle.py rtt SERVER_PORT — prints the mean round trip to the server (ms,
`SELECT 1` direct, no pgscope); latency_oracle.py workload PROXY_PORT — runs the psycopg
(extended, prepared, COPY, a pipeline with a slow statement) and asyncpg (`executemany`)
parts of the workload through pgscope.
"""

import asyncio
import sys
import time

import asyncpg
import psycopg

mode, port = sys.argv[1], int(sys.argv[2])
proxy = server = port
DSN = "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable"


def extended_and_prepared():
    with psycopg.connect(DSN.format(proxy), autocommit=True) as conn:
        for i in range(20):
            # Server-side binding, unnamed statement: the extended protocol.
            conn.execute("SELECT v FROM lat WHERE id = %s", (i % 10,))
            # Named prepared statements (prepared at once).
            conn.execute("UPDATE lat SET v = v + %s WHERE id = %s", (1, i % 10), prepare=True)
        with conn.cursor() as cur:
            with cur.copy("COPY lat_copy FROM STDIN") as copy:
                for i in range(25):
                    copy.write_row((i, i * 2))


def pipeline_with_a_slow_statement():
    with psycopg.connect(DSN.format(proxy), autocommit=True) as conn:
        for _ in range(3):
            with conn.pipeline():
                cur = conn.cursor()
                for i in range(7):
                    cur.execute("SELECT v, id FROM lat WHERE id = %s", (i,))
                    if i == 3:
                        cur.execute("SELECT pg_sleep(%s)", (0.05,))
                    if i < 5:
                        cur.execute("UPDATE lat SET v = %s WHERE id = %s AND v >= 0", (i, i))


async def asyncpg_executemany():
    conn = await asyncpg.connect(host="127.0.0.1", port=proxy, user="postgres", database="postgres", ssl=False)
    try:
        for round in range(3):
            await conn.executemany(
                "INSERT INTO lat_many (id, v) VALUES ($1, $2)",
                [(round * 100 + i, i) for i in range(40)],
            )
    finally:
        await conn.close()


def round_trip_ms():
    with psycopg.connect(DSN.format(server), autocommit=True) as conn:
        for _ in range(20):
            conn.execute("SELECT 1 AS warm")
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("SELECT 1 AS warm")
        return (time.perf_counter() - start) * 1000 / n


if mode == "rtt":
    print(f"{round_trip_ms():.3f}")
else:
    extended_and_prepared()
    pipeline_with_a_slow_statement()
    asyncio.run(asyncpg_executemany())
