"""An application instrumented with OpenTelemetry, querying through pgscope.

Usage: otel_app.py DSN OTLP_HTTP_ENDPOINT

It exports its own spans over OTLP/HTTP to OTLP_HTTP_ENDPOINT (`http://host:port`), serves
one pretend request (the span `GET /users/{id}`) and, inside it, runs one query with psycopg
instrumented by `opentelemetry-instrumentation-psycopg` with `enable_commenter=True`, so the
query text carries the W3C `traceparent` of the instrumentation's database span in a
sqlcommenter comment. It prints `ok {json}` with the request span's trace and span ids, after
its own spans have been exported.
"""

import json
import sys

import psycopg
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

SERVICE = "otel-app"


def main(dsn: str, endpoint: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, enable_commenter=True)
    tracer = trace.get_tracer("otel_app")

    with tracer.start_as_current_span("GET /users/{id}") as request:
        with psycopg.connect(dsn, application_name=SERVICE, autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT name FROM users WHERE id = %s", (7,))
                (name,) = cur.fetchone()
    context = request.get_span_context()
    provider.shutdown()
    if name != "seven":
        raise SystemExit(f"unexpected row {name!r}")
    print(
        "ok "
        + json.dumps(
            {
                "trace_id": format(context.trace_id, "032x"),
                "request_span_id": format(context.span_id, "016x"),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
