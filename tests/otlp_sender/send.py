"""A real OTLP/HTTP sender for tests/otlp_source.rs: the OpenTelemetry Python
SDK with its OTLP/HTTP log exporter (protobuf), as an instrumented application
uses it. Logs through Python's `logging` (the SDK's LoggingHandler) inside a
span, so records carry its trace and span ids, plus records emitted with the
Logs API directly (a map body, an explicit timestamp, typed attributes).

Prints one JSON line: the span's ids and the outcome of every export call.
Exits non-zero when an export failed.
"""

import argparse
import json
import logging
import sys

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


class Recording(OTLPLogExporter):
    """The SDK's exporter, noting the result of each export."""

    results = []

    def export(self, batch):
        result = super().export(batch)
        Recording.results.append(result.name)
        return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--ca")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--count", type=int, default=0, help="extra INFO lines")
    a = p.parse_args()

    headers = dict(h.split("=", 1) for h in a.header)
    exporter = Recording(
        endpoint=a.endpoint,
        certificate_file=a.ca,
        headers=headers or None,
        timeout=30,
        compression=Compression.Gzip if a.gzip else Compression.NoCompression,
    )
    resource = Resource.create({"service.name": "checkout", "deployment.environment": "test"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64))
    tracer = TracerProvider(resource=resource).get_tracer("checkout.tracer")

    log = logging.getLogger("checkout.payments")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

    with tracer.start_as_current_span("charge") as span:
        ctx = span.get_span_context()
        log.warning("card declined", extra={"order.id": 1234, "amount": 9.5, "retry": True})
        log.error("payment failed: %s", "timeout", extra={"gateway": "stripe"})
    for i in range(a.count):
        log.info("line %d", i, extra={"n": i})

    otel = provider.get_logger("checkout.api", "2.1.0")
    otel.emit(
        timestamp=1_755_685_845_123_456_789,
        severity_number=SeverityNumber.DEBUG,
        severity_text="DEBUG",
        body={"message": "cache miss", "key": "user:42", "sizes": [1, 2, 3]},
        attributes={"cache.hit": False},
    )
    otel.emit(severity_text="notice", body="text severity only")

    ok = provider.force_flush(30_000)
    provider.shutdown()
    print(json.dumps({
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "flushed": ok,
        "results": Recording.results,
    }))
    sys.exit(0 if ok and Recording.results and all(r == "SUCCESS" for r in Recording.results) else 1)


if __name__ == "__main__":
    main()
