#!/usr/bin/env python3
"""A scripted OTLP/HTTP logs receiver for the opentelemetry sink's tests.

Decodes every export request with the official protobuf definitions from the
`opentelemetry-proto` PyPI package -- binary protobuf, or OTLP/JSON through
protobuf's own JSON parser (after the OTLP-specific hex trace/span ids are
turned into the base64 protobuf JSON expects) -- gunzips `Content-Encoding:
gzip` bodies, and appends what it decoded, normalized, as one JSON line to
DIR/received.jsonl. Answers follow DIR/script.json, a JSON list whose n-th
entry answers the n-th export request that carries records (empty requests,
the sink's health probe, always get 200):

    {"status": 429, "retry_after": "1"}            throttled
    {"status": 400, "text": "bad data"}             refused
    {"status": 200, "rejected": 2, "message": "x"}  partial success
    {"hang": 30}                                    record, then answer nothing for 30 s

    receiver.py DIR     # listens on 127.0.0.1, writes its port to DIR/port
"""
import base64
import binascii
import gzip
import http.server
import json
import os
import sys
import threading
import time

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE = {"exports": 0}
MAX_BODY = 64 << 20


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return {"string": v.string_value}
    if kind == "bool_value":
        return {"bool": v.bool_value}
    if kind == "int_value":
        return {"int": v.int_value}
    if kind == "double_value":
        return {"double": v.double_value}
    if kind == "bytes_value":
        return {"bytes": v.bytes_value.hex()}
    if kind == "array_value":
        return {"array": [any_value(x) for x in v.array_value.values]}
    if kind == "kvlist_value":
        return {"kvlist": key_values(v.kvlist_value.values)}
    raise ValueError(f"unknown AnyValue variant {kind}")


def key_values(kvs):
    out = {}
    for kv in kvs:
        if kv.key in out:
            raise ValueError(f"duplicate attribute key {kv.key!r}")
        out[kv.key] = any_value(kv.value) if kv.HasField("value") else None
    return out


def normalize(req):
    resources = []
    for rl in req.resource_logs:
        scopes = []
        for sl in rl.scope_logs:
            records = []
            for r in sl.log_records:
                records.append({
                    "time": r.time_unix_nano,
                    "observed": r.observed_time_unix_nano,
                    "severity_number": r.severity_number,
                    "severity_text": r.severity_text,
                    "body": any_value(r.body) if r.HasField("body") else "ABSENT",
                    "attributes": key_values(r.attributes),
                    "dropped_attributes_count": r.dropped_attributes_count,
                    "flags": r.flags,
                    "trace_id": r.trace_id.hex(),
                    "span_id": r.span_id.hex(),
                    "event_name": r.event_name,
                })
            scopes.append({"name": sl.scope.name, "version": sl.scope.version, "records": records})
        resources.append({
            "attributes": key_values(rl.resource.attributes),
            "has_resource": rl.HasField("resource"),
            "scopes": scopes,
        })
    return resources


def check_json_rules(doc):
    """The OTLP/JSON rules protobuf's JSON parser does not enforce: 64-bit
    integers as strings, ids as hex. Rewrites the ids to base64 for the parser."""
    def values(v):
        if not isinstance(v, dict):
            raise ValueError(f"AnyValue is not an object: {v!r}")
        if "intValue" in v and not isinstance(v["intValue"], str):
            raise ValueError(f"intValue must be a string in OTLP/JSON: {v!r}")
        for kv in v.get("kvlistValue", {}).get("values", []):
            values(kv.get("value", {}))
        for e in v.get("arrayValue", {}).get("values", []):
            values(e)

    for rl in doc.get("resourceLogs", []):
        for kv in rl.get("resource", {}).get("attributes", []):
            values(kv.get("value", {}))
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                for k in ("timeUnixNano", "observedTimeUnixNano"):
                    if k in r and not isinstance(r[k], str):
                        raise ValueError(f"{k} must be a string in OTLP/JSON: {r[k]!r}")
                for k, n in (("traceId", 16), ("spanId", 8)):
                    if k in r:
                        h = r[k]
                        if not isinstance(h, str) or len(h) != 2 * n or h != h.lower():
                            raise ValueError(f"{k} must be {2 * n} lower-case hex digits: {h!r}")
                        r[k] = base64.b64encode(binascii.unhexlify(h)).decode()
                if "body" in r:
                    values(r["body"])
                for kv in r.get("attributes", []):
                    values(kv.get("value", {}))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n > MAX_BODY:
            return self.answer(413, b"too large", "text/plain")
        raw = self.rfile.read(n)
        ctype = self.headers.get("Content-Type", "")
        encoding = self.headers.get("Content-Encoding", "")
        entry = {
            "t": time.monotonic(),
            "path": self.path,
            "content_type": ctype,
            "content_encoding": encoding,
            "wire_bytes": len(raw),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "error": None,
            "resources": [],
        }
        try:
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            req = logs_service_pb2.ExportLogsServiceRequest()
            if ctype == "application/x-protobuf":
                req.ParseFromString(body)
            elif ctype == "application/json":
                doc = json.loads(body)
                check_json_rules(doc)
                json_format.ParseDict(doc, req, ignore_unknown_fields=False)
            else:
                raise ValueError(f"unexpected Content-Type {ctype!r}")
            entry["resources"] = normalize(req)
        except Exception as e:  # recorded for the test to see
            entry["error"] = f"{type(e).__name__}: {e}"
        records = sum(len(s["records"]) for r in entry["resources"] for s in r["scopes"])
        step = {"status": 200}
        with LOCK:
            if records > 0 or entry["error"]:
                script = []
                path = os.path.join(DIR, "script.json")
                if os.path.exists(path):
                    with open(path) as f:
                        script = json.load(f)
                k = STATE["exports"]
                STATE["exports"] += 1
                entry["n"] = k
                if k < len(script):
                    step = script[k]
            with open(os.path.join(DIR, "received.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")
        if entry["error"]:
            return self.answer(400, entry["error"].encode(), "text/plain")
        if "hang" in step:
            time.sleep(step["hang"])
            self.close_connection = True
            return
        status = step.get("status", 200)
        if status != 200:
            return self.answer(status, step.get("text", "scripted failure").encode(), "text/plain",
                               step.get("retry_after"))
        resp = logs_service_pb2.ExportLogsServiceResponse()
        if step.get("rejected") or step.get("message"):
            resp.partial_success.rejected_log_records = step.get("rejected", 0)
            resp.partial_success.error_message = step.get("message", "")
        if ctype == "application/json":
            self.answer(200, json_format.MessageToJson(resp).encode(), "application/json")
        else:
            self.answer(200, resp.SerializeToString(), "application/x-protobuf")

    def answer(self, status, body, ctype, retry_after=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = os.path.join(DIR, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(DIR, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
