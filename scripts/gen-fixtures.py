#!/usr/bin/env python3
"""Generate deterministic sample log fixtures for the log agent.

Run from the repository root:

    python3 scripts/gen-fixtures.py

Outputs (overwritten on every run, byte-for-byte identical across runs):

    fixtures/logs/app/api.log       JSON logs of the API service (runbook format)
    fixtures/logs/app/worker.log    pino-style JSON logs with numeric levels
    fixtures/logs/nginx/access.log  nginx "combined" access log
    fixtures/README.md              description of the files and special lines

Standard library only. Every log family uses its own random.Random instance with
a fixed seed, so changing one generator does not shift the output of the others.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20250820

ROOT = Path(__file__).resolve().parent.parent
API_LOG = ROOT / "fixtures" / "logs" / "app" / "api.log"
WORKER_LOG = ROOT / "fixtures" / "logs" / "app" / "worker.log"
NGINX_LOG = ROOT / "fixtures" / "logs" / "nginx" / "access.log"
README = ROOT / "fixtures" / "README.md"

# --------------------------------------------------------------------------- #
# Shared data
# --------------------------------------------------------------------------- #

# (userId, email) -- romanised Japanese names plus a few ASCII/other ones.
USERS = [
    (123, "taro.yamada@example.co.jp"),
    (124, "hanako.suzuki@example.jp"),
    (131, "ichiro.tanaka@example.co.jp"),
    (142, "yuki.sato@example.jp"),
    (157, "kenji.watanabe@mail.example.ne.jp"),
    (163, "misaki.ito@example.co.jp"),
    (178, "sho.nakamura@example.jp"),
    (190, "aiko.kobayashi@example.co.jp"),
    (205, "daisuke.kato@example.jp"),
    (211, "emi.yoshida@example.co.jp"),
    (230, "john.smith@example.com"),
    (244, "alice.johnson@example.com"),
    (251, "m.garcia@example.org"),
    (266, "ops+alerts@example.co.jp"),
]

CLIENT_IPS = [
    "192.168.1.100",
    "192.168.1.23",
    "192.168.1.57",
    "10.0.3.17",
    "10.0.4.201",
    "172.16.5.9",
    "203.0.113.45",
    "198.51.100.7",
]

BROWSER_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
]


def exact_pool(rng: random.Random, counts: dict, total: int) -> list:
    """Return a shuffled list containing each key exactly counts[key] times."""
    pool = [key for key, n in counts.items() for _ in range(n)]
    assert len(pool) == total, (len(pool), total)
    rng.shuffle(pool)
    return pool


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def stack_trace(head: str, frames: list) -> str:
    """A Node.js style stack: first line is 'Name: message', then '    at ...'."""
    return "\n".join([head] + [f"    at {frame}" for frame in frames])


# --------------------------------------------------------------------------- #
# api.log -- JSON format from the runbook
# --------------------------------------------------------------------------- #

API_LINES = 300
API_TRUNCATED_LINE = 50
API_PLAINTEXT_LINE = 120
API_INVALID_UTF8_LINE = 200
API_START = datetime(2025, 8, 20, 10, 30, 0, tzinfo=timezone.utc)
# 299 JSON lines (every line except the plain-text one) carry a level.
API_LEVEL_COUNTS = {"trace": 45, "debug": 60, "info": 134, "warn": 36, "error": 24}
# Non-lower-case spellings: original level -> (spelling, how many lines).
API_CASE_VARIANTS = {
    "warn": ("WARN", 2),
    "error": ("Error", 2),
    "info": ("INFO", 1),
    "debug": ("Debug", 1),
    "trace": ("TRACE", 1),
}
INVALID_UTF8_MARKER = "@@INVALID_UTF8@@"

# Keys emitted first (runbook order), then event-specific extras in insertion
# order, then the trailing structured objects.
API_HEAD_KEYS = [
    "timestamp", "level", "message", "service", "version", "environment",
    "traceId", "requestId", "userId", "useCase", "duration", "category", "event",
]
API_TAIL_KEYS = ["context", "error", "metadata"]

USE_CASES = {
    "CreateCaseUseCase": ("POST", "/api/cases"),
    "UpdateCaseUseCase": ("PUT", "/api/cases/{case}"),
    "GetCaseListUseCase": ("GET", "/api/cases"),
    "GetCaseDetailUseCase": ("GET", "/api/cases/{case}"),
    "CompleteStepUseCase": ("PATCH", "/api/processes/{process}/steps/{step}"),
    "ReplanScheduleUseCase": ("POST", "/api/processes/{process}/replan"),
    "DeleteCaseUseCase": ("DELETE", "/api/cases/{case}"),
    "LoginUseCase": ("POST", "/api/auth/login"),
    "HandleMailWebhookUseCase": ("POST", "/api/webhooks/mail"),
}
RANDOM_USE_CASES = list(USE_CASES)[:7]

STACK_FRAMES_DB = [
    "PostgresQueryRunner.query (/app/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js:299:19)",
    "process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    "async InsertQueryBuilder.execute (/app/node_modules/typeorm/query-builder/InsertQueryBuilder.js:163:33)",
    "async CaseRepository.save (/app/dist/infrastructure/repositories/CaseRepository.js:41:9)",
    "async CreateCaseUseCase.execute (/app/dist/application/usecases/CreateCaseUseCase.js:58:22)",
]


def order_api_fields(fields: dict) -> dict:
    ordered = {k: fields[k] for k in API_HEAD_KEYS if k in fields}
    for k, v in fields.items():
        if k not in API_HEAD_KEYS and k not in API_TAIL_KEYS:
            ordered[k] = v
    for k in API_TAIL_KEYS:
        if k in fields:
            ordered[k] = fields[k]
    return ordered


class ApiRequestIds:
    """Per-request state (ids, user, use case, path) shared by a few consecutive lines."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.remaining = 0

    def new_request(self, use_case=None):
        rng = self.rng
        self.trace_id = f"trace_{rng.randrange(10**9, 10**10)}"
        self.request_id = "req_" + "".join(rng.choice("0123456789abcdef") for _ in range(12))
        self.user = rng.choice(USERS)
        self.ip = rng.choice(CLIENT_IPS)
        self.ua = rng.choice(BROWSER_UAS + ["okhttp/4.12.0", "axios/1.7.2"])
        self.use_case = use_case or rng.choice(RANDOM_USE_CASES)
        self.case_id = rng.randint(100, 999)
        self.process_id = rng.randint(500, 999)
        method, path_tpl = USE_CASES[self.use_case]
        self.method = method
        self.path = path_tpl.format(case=self.case_id, process=self.process_id, step=rng.randint(1, 40))

    def next(self):
        if self.remaining <= 0:
            self.new_request()
            self.remaining = self.rng.choice([1, 1, 2, 2, 3, 4])
        self.remaining -= 1
        return self


def api_request_fields(rng, ids, use_case=None) -> dict:
    """Base fields for a request-scoped line (ids, user, context, metadata).

    Asking for a use case other than the current request's starts a new request.
    """
    if use_case and use_case != ids.use_case:
        ids.new_request(use_case)
    return {
        "traceId": ids.trace_id,
        "requestId": ids.request_id,
        "userId": ids.user[0],
        "useCase": ids.use_case,
        "context": {"caseId": ids.case_id, "processId": ids.process_id},
        "metadata": {"ip": ids.ip, "userAgent": ids.ua, "method": ids.method, "path": ids.path},
    }


def api_trace(rng, ids) -> dict:
    f = api_request_fields(rng, ids)
    kind = rng.randrange(5)
    if kind == 0:
        f["message"] = f"Entering {f['useCase']}.execute"
    elif kind == 1:
        f["message"] = f"Exiting {f['useCase']}.execute"
        f["duration"] = rng.randint(3, 1800)
    elif kind == 2:
        f["message"] = "Cache lookup"
        f["cacheKey"] = f"case:{f['context']['caseId']}:summary"
        f["hit"] = rng.random() < 0.6
    elif kind == 3:
        f["message"] = "Request payload validated"
        f["fields"] = rng.randint(3, 14)
    else:
        f["message"] = "Repository method called"
        f["repository"] = rng.choice(["CaseRepository", "ProcessRepository", "StepRepository"])
        f["repositoryMethod"] = rng.choice(["findById", "findByCaseId", "save", "softDelete"])
    return f


def api_debug(rng, ids) -> dict:
    kind = rng.randrange(5)
    if kind == 0:
        f = api_request_fields(rng, ids)
        f["message"] = "SQL query executed"
        f["duration"] = rng.randint(1, 240)
        f["query"] = rng.choice([
            'SELECT "c"."id", "c"."title" FROM "cases" "c" WHERE "c"."id" = $1',
            'SELECT * FROM "steps" WHERE "process_id" = $1 ORDER BY "order" ASC',
            'UPDATE "steps" SET "status" = $1 WHERE "id" = $2',
        ])
        f["parameters"] = [f["context"]["caseId"]]
    elif kind == 1:
        f = api_request_fields(rng, ids)
        f["message"] = "JWT verified"
        f["category"] = "auth"
        f["tokenExpiresIn"] = rng.randint(60, 3600)
    elif kind == 2:
        f = api_request_fields(rng, ids, "ReplanScheduleUseCase")
        f["message"] = "ステップの依存関係を解析しました"
        f["nodes"] = rng.randint(5, 60)
        f["edges"] = rng.randint(4, 90)
    elif kind == 3:
        f = api_request_fields(rng, ids)
        f["message"] = "Transaction committed"
        f["duration"] = rng.randint(2, 90)
    else:
        f = {
            "message": "Connection pool stats",
            "category": "system",
            "active": rng.randint(0, 10),
            "idle": rng.randint(0, 10),
            "waiting": rng.randint(0, 3),
        }
    return f


def api_info(rng, ids) -> dict:
    kind = rng.choices(range(7), weights=[30, 18, 14, 8, 6, 14, 10])[0]
    if kind == 0:
        f = api_request_fields(rng, ids)
        f["message"] = "UseCase executed successfully"
        f["duration"] = rng.randint(20, 2500)
    elif kind == 1:
        f = api_request_fields(rng, ids, "LoginUseCase")
        del f["context"]
        f["message"] = rng.choice(["User login successful", "User login successful",
                                   "ユーザーがログインしました"])
        f["category"] = "auth"
        f["event"] = "login_success"
        f["email"] = ids.user[1]
        f["ip"] = ids.ip
    elif kind == 2:
        f = api_request_fields(rng, ids, "CreateCaseUseCase")
        f["message"] = rng.choice(["Case created", "Case created", "案件を作成しました"])
        f["duration"] = rng.randint(80, 2500)
        f["category"] = "business"
        f["event"] = "case_created"
        f["caseId"] = f["context"]["caseId"]
        f["processId"] = f["context"]["processId"]
        f["createdBy"] = ids.user[0]
        f["stepCount"] = rng.randint(3, 25)
        goal = API_START + timedelta(days=rng.randint(14, 200))
        f["goalDate"] = goal.strftime("%Y-%m-%d")
    elif kind == 3:
        f = api_request_fields(rng, ids, "ReplanScheduleUseCase")
        f["message"] = "Replan completed"
        f["duration"] = rng.randint(150, 4800)
        f["category"] = "business"
        f["event"] = "replan_completed"
        f["processId"] = f["context"]["processId"]
        f["changedSteps"] = rng.randint(0, 18)
        f["algorithm"] = rng.choice(["critical_path", "backward_scheduling"])
    elif kind == 4:
        f = {
            "message": "Database connected",
            "category": "system",
            "event": "db_connected",
            "host": rng.choice(["db-primary.internal", "db-replica-1.internal"]),
            "database": "case_management",
            "poolSize": 10,
            "duration": rng.randint(8, 120),
        }
    elif kind == 5:
        f = {
            "traceId": ids.trace_id,
            "requestId": ids.request_id,
            "message": "External API call",
            "duration": rng.randint(30, 900),
            "category": "system",
            "event": "external_api_call",
            "target": rng.choice(["holiday-calendar", "mail-gateway", "slack-webhook"]),
            "statusCode": rng.choice([200, 200, 200, 201, 204]),
        }
        f["url"] = {
            "holiday-calendar": "https://holidays-jp.example.net/api/v1/date.json",
            "mail-gateway": "https://mail.example.net/v3/messages",
            "slack-webhook": "https://hooks.example.net/services/T000/B000/XXXX",
        }[f["target"]]
    else:
        f = api_request_fields(rng, ids)
        f["message"] = "Request completed"
        f["duration"] = rng.randint(5, 1500)
        f["statusCode"] = rng.choice([200, 200, 200, 201, 204, 304])
    return f


def api_warn(rng, ids) -> dict:
    kind = rng.choices(range(5), weights=[30, 20, 20, 15, 15])[0]
    if kind == 0:
        f = api_request_fields(rng, ids, "LoginUseCase")
        del f["userId"], f["context"]
        f["message"] = "User login failed"
        f["category"] = "auth"
        f["event"] = "login_failed"
        f["email"] = rng.choice(USERS)[1]
        f["ip"] = ids.ip
        f["reason"] = rng.choice(["invalid_credentials", "invalid_credentials", "account_locked"])
        f["failedAttempts"] = rng.randint(1, 5)
    elif kind == 1:
        f = api_request_fields(rng, ids, rng.choice(["DeleteCaseUseCase", "UpdateCaseUseCase"]))
        f["message"] = "Access denied"
        f["category"] = "auth"
        f["event"] = "access_denied"
        f["resource"] = f["metadata"]["path"]
        f["requiredPermission"] = rng.choice(["case:delete", "case:update", "process:admin"])
        f["role"] = rng.choice(["viewer", "member"])
    elif kind == 2:
        f = api_request_fields(rng, ids)
        f["message"] = "Slow query detected"
        f["duration"] = rng.randint(1000, 6000)
        f["threshold"] = 1000
        f["query"] = 'SELECT * FROM "steps" "s" LEFT JOIN "dependencies" "d" ON "d"."step_id" = "s"."id"'
    elif kind == 3:
        f = {
            "traceId": ids.trace_id,
            "requestId": ids.request_id,
            "message": "External API call returned non-success status",
            "duration": rng.randint(200, 5000),
            "category": "system",
            "event": "external_api_call",
            "target": "holiday-calendar",
            "url": "https://holidays-jp.example.net/api/v1/date.json",
            "statusCode": rng.choice([429, 429, 404]),
            "retryAfter": rng.randint(1, 30),
        }
    else:
        f = api_request_fields(rng, ids, "ReplanScheduleUseCase")
        f["message"] = "期限を過ぎたステップがあります"
        f["category"] = "business"
        f["event"] = "overdue_steps_detected"
        f["overdueSteps"] = rng.randint(1, 6)
    return f


def api_error(rng, ids) -> dict:
    kind = rng.randrange(4)
    if kind == 0:
        f = api_request_fields(rng, ids, "CreateCaseUseCase")
        f["message"] = "Database query failed"
        f["duration"] = rng.randint(5, 400)
        msg = 'duplicate key value violates unique constraint "UQ_cases_case_number"'
        f["error"] = {
            "name": "QueryFailedError",
            "message": msg,
            "stack": stack_trace(f"QueryFailedError: {msg}", STACK_FRAMES_DB),
        }
    elif kind == 1:
        f = api_request_fields(rng, ids, "GetCaseDetailUseCase")
        f["message"] = "UseCase execution failed"
        f["duration"] = rng.randint(5, 200)
        msg = f'Could not find any entity of type "Case" matching: {{ "id": {f["context"]["caseId"]} }}'
        f["error"] = {
            "name": "EntityNotFoundError",
            "message": msg,
            "stack": stack_trace(f"EntityNotFoundError: {msg}", [
                "EntityManager.findOneOrFail (/app/node_modules/typeorm/entity-manager/EntityManager.js:647:19)",
                "async GetCaseDetailUseCase.execute (/app/dist/application/usecases/GetCaseDetailUseCase.js:27:22)",
            ]),
        }
    elif kind == 2:
        f = {
            "traceId": ids.trace_id,
            "requestId": ids.request_id,
            "message": "外部APIの呼び出しに失敗しました",
            "duration": 10000,
            "category": "system",
            "event": "external_api_call",
            "target": "mail-gateway",
            "url": "https://mail.example.net/v3/messages",
            "statusCode": rng.choice([502, 503, 504]),
        }
        f["error"] = {
            "name": "AxiosError",
            "message": f"Request failed with status code {f['statusCode']}",
            "stack": stack_trace(f"AxiosError: Request failed with status code {f['statusCode']}", [
                "settle (/app/node_modules/axios/dist/node/axios.cjs:1966:12)",
                "IncomingMessage.handleStreamEnd (/app/node_modules/axios/dist/node/axios.cjs:3065:11)",
                "async MailGatewayClient.send (/app/dist/infrastructure/mail/MailGatewayClient.js:33:7)",
            ]),
        }
    else:
        f = api_request_fields(rng, ids, "CompleteStepUseCase")
        f["message"] = "Unhandled error in request handler"
        msg = "Cannot read properties of undefined (reading 'id')"
        f["error"] = {
            "name": "TypeError",
            "message": msg,
            "stack": stack_trace(f"TypeError: {msg}", [
                "CompleteStepUseCase.execute (/app/dist/application/usecases/CompleteStepUseCase.js:44:31)",
                "StepController.complete (/app/dist/presentation/controllers/StepController.js:61:18)",
            ]),
        }
    return f


API_BUILDERS = {
    "trace": api_trace,
    "debug": api_debug,
    "info": api_info,
    "warn": api_warn,
    "error": api_error,
}


def api_line(fields: dict, ts: datetime, level: str) -> str:
    fields = dict(fields)
    fields["timestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    fields["level"] = level
    fields["service"] = "api"
    fields["version"] = "1.1.0"
    fields["environment"] = "production"
    return json.dumps(order_api_fields(fields), ensure_ascii=False, separators=(",", ":"))


def gen_api(rng: random.Random) -> tuple[bytes, dict]:
    json_line_numbers = [n for n in range(1, API_LINES + 1) if n != API_PLAINTEXT_LINE]
    levels = dict(zip(json_line_numbers, exact_pool(rng, API_LEVEL_COUNTS, len(json_line_numbers))))
    special = (API_TRUNCATED_LINE, API_PLAINTEXT_LINE, API_INVALID_UTF8_LINE)
    # Fixed levels for the special lines (counts stay exact: swap with a donor line).
    for line, wanted in ((API_TRUNCATED_LINE, "info"), (API_INVALID_UTF8_LINE, "warn")):
        if levels[line] != wanted:
            donor = next(n for n in json_line_numbers if levels[n] == wanted and n not in special)
            levels[donor], levels[line] = levels[line], wanted

    spelled = {}
    for level, (spelling, count) in API_CASE_VARIANTS.items():
        candidates = [n for n in json_line_numbers if levels[n] == level and n not in special]
        for n in sorted(rng.sample(candidates, count)):
            spelled[n] = spelling

    ids = ApiRequestIds(rng)
    ts = API_START
    out = []
    for n in range(1, API_LINES + 1):
        if n > 1:
            ts += timedelta(milliseconds=rng.randint(5, 900))
        if n == API_PLAINTEXT_LINE:
            out.append(
                b"Unhandled rejection at: Promise { <rejected> Error: read ECONNRESET } "
                b"reason: Error: read ECONNRESET\n"
            )
            continue
        level = levels[n]
        if n == API_TRUNCATED_LINE:
            fields = api_request_fields(rng, ids.next(), "CreateCaseUseCase")
            fields["message"] = "UseCase executed successfully"
            fields["duration"] = rng.randint(200, 2500)
        elif n != API_INVALID_UTF8_LINE:
            fields = API_BUILDERS[level](rng, ids.next())
        else:
            fields = api_request_fields(rng, ids.next(), "HandleMailWebhookUseCase")
            del fields["context"]
            fields["message"] = f"Webhook payload contained undecodable bytes: {INVALID_UTF8_MARKER} (ignored)"
            fields["category"] = "system"
            fields["event"] = "webhook_received"
        text = api_line(fields, ts, spelled.get(n, level))
        if n == API_TRUNCATED_LINE:
            # Cut in the middle of the userAgent string value: no closing quote/brace.
            start = text.index('"userAgent":"') + len('"userAgent":"')
            text = text[: start + 17]
        data = text.encode("utf-8")
        if n == API_INVALID_UTF8_LINE:
            data = data.replace(INVALID_UTF8_MARKER.encode("ascii"), b"\xff\xfe")
        out.append(data + b"\n")

    stats = {
        "levels": Counter(levels.values()),
        "spelled": spelled,
        "truncated_level": levels[API_TRUNCATED_LINE],
    }
    return b"".join(out), stats


# --------------------------------------------------------------------------- #
# worker.log -- pino format with numeric levels
# --------------------------------------------------------------------------- #

WORKER_LINES = 200
WORKER_START_MS = 1755685800000  # 2025-08-20T10:30:00.000Z
WORKER_HOSTNAME = "worker-7d9f"
WORKER_NODE_VERSION = "v20.11.1"
WORKER_FIRST_PID = 4242
# Levels for the 196 "ordinary" lines; each of the 2 fatal lines is followed by
# an info "worker started" line from the restarted process (new pid).
WORKER_LEVEL_COUNTS = {10: 30, 20: 40, 30: 86, 40: 24, 50: 16}
WORKER_FATALS = 2
WORKER_REQ_LINES = 120  # 60 %
WORKER_USER_LINES = 80  # 40 %
WORKER_USER_WITHOUT_REQ = 10

BASIC_CREDENTIALS = ["user:pass", "svc-batch:s3cr3t-Passw0rd", "admin:admin123", "reporter:Tokyo2025!"]
WORKER_UAS = ["axios/1.7.2", "node-fetch/3.3.2", "undici", "Go-http-client/1.1", "okhttp/4.12.0"]
WORKER_ROUTES = [
    ("GET", "/api/cases/{case}"),
    ("GET", "/api/cases?page={page}&limit=20"),
    ("POST", "/api/cases"),
    ("PUT", "/api/cases/{case}"),
    ("GET", "/api/processes/{process}"),
    ("POST", "/api/processes/{process}/replan"),
    ("PATCH", "/api/processes/{process}/steps/{step}"),
    ("DELETE", "/api/cases/{case}"),
]
JOB_NAMES = ["replan-schedule", "send-reminder-mail", "sync-holidays", "export-case-csv", "cleanup-sessions"]


def jwt_token(rng: random.Random, user, now_s: int) -> str:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = json.dumps(
        {"sub": str(user[0]), "email": user[1], "iat": now_s - rng.randint(60, 3000),
         "exp": now_s + rng.randint(300, 3600)},
        separators=(",", ":"),
    ).encode("utf-8")
    signature = b64url(bytes(rng.randrange(256) for _ in range(32)))
    return f"Bearer {header}.{b64url(payload)}.{signature}"


def basic_token(rng: random.Random) -> str:
    return "Basic " + base64.b64encode(rng.choice(BASIC_CREDENTIALS).encode("utf-8")).decode("ascii")


def worker_err(kind: str, message: str, frames: list) -> dict:
    return {"type": kind, "message": message, "stack": stack_trace(f"{kind}: {message}", frames)}


def worker_req_message(rng, level: int, extra: dict) -> str:
    if level == 10:
        return rng.choice(["request received", "route matched", "parsing request body"])
    if level == 20:
        msg = rng.choice(["verifying bearer token", "cache lookup", "query executed"])
        if msg == "query executed":
            extra["query"] = 'SELECT * FROM "cases" WHERE "id" = $1'
            extra["duration"] = rng.randint(1, 80)
        return msg
    if level == 30:
        extra["res"] = {"statusCode": rng.choice([200, 200, 200, 201, 204, 304])}
        extra["responseTime"] = rng.randint(3, 900)
        return "request completed"
    if level == 40:
        if rng.random() < 0.5:
            extra["res"] = {"statusCode": rng.choice([400, 401, 403, 404, 409, 429])}
            extra["responseTime"] = rng.randint(2, 120)
            return "request completed with client error"
        extra["res"] = {"statusCode": 200}
        extra["responseTime"] = rng.randint(2000, 9000)
        return "slow request"
    # 50
    extra["res"] = {"statusCode": rng.choice([500, 500, 502, 503])}
    extra["err"] = worker_err("QueryFailedError", "Connection terminated unexpectedly", [
        "Client._handleErrorEvent (/app/node_modules/pg/lib/client.js:319:19)",
        "async CaseRepository.findById (/app/dist/infrastructure/repositories/CaseRepository.js:22:16)",
    ])
    extra["responseTime"] = rng.randint(5, 3000)
    return "request errored"


def worker_job_message(rng, level: int, extra: dict, job_counter: list) -> str:
    job_counter[0] += 1
    job = {"id": job_counter[0], "name": rng.choice(JOB_NAMES), "attempt": 1}
    if level == 10:
        return rng.choice(["polling queue", "heartbeat", "no jobs available"])
    if level == 20:
        extra["job"] = job
        return rng.choice(["job payload parsed", "lock acquired", "job dequeued"])
    if level == 30:
        extra["job"] = job
        if rng.random() < 0.2:
            extra["delayMs"] = rng.choice([0, 5000, 60000])
            return "scheduled job enqueued"
        extra["duration"] = rng.randint(20, 12000)
        if job["name"] == "replan-schedule" and rng.random() < 0.5:
            return "再計画ジョブが完了しました"
        return "job completed"
    if level == 40:
        if rng.random() < 0.6:
            job["attempt"] = rng.randint(2, 4)
            extra["job"] = job
            extra["retryInMs"] = 1000 * 2 ** job["attempt"]
            return "job retry scheduled"
        extra["queue"] = "default"
        extra["depth"] = rng.randint(500, 5000)
        return "queue backlog high"
    # 50
    job["attempt"] = rng.randint(1, 5)
    extra["job"] = job
    if job["name"] == "send-reminder-mail":
        extra["err"] = worker_err("Error", "connect ETIMEDOUT 10.0.8.14:587", [
            "TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)",
        ])
    else:
        extra["err"] = worker_err("Error", f"job {job['name']} failed: deadline exceeded", [
            f"Worker.run (/app/dist/worker/jobs/{job['name']}.js:88:13)",
            "async Worker.processJob (/app/node_modules/bullmq/dist/cjs/classes/worker.js:404:28)",
        ])
    return "job failed"


def worker_levels(rng: random.Random) -> list:
    ordinary = exact_pool(rng, WORKER_LEVEL_COUNTS, WORKER_LINES - 2 * WORKER_FATALS)
    # Fatal positions (0-based, in the ordinary list) far apart and away from the ends.
    positions = sorted(rng.sample(range(30, 80), 1) + rng.sample(range(110, 170), 1))
    levels = []
    for i, level in enumerate(ordinary):
        if i in positions:
            levels += [60, "start"]
        levels.append(level)
    return levels


def gen_worker(rng: random.Random) -> tuple[bytes, dict]:
    levels = worker_levels(rng)
    ordinary_idx = [i for i, lv in enumerate(levels) if lv not in (60, "start")]
    req_idx = set(rng.sample(ordinary_idx, WORKER_REQ_LINES))
    user_idx = set(rng.sample(sorted(req_idx), WORKER_USER_LINES - WORKER_USER_WITHOUT_REQ))
    user_idx |= set(rng.sample([i for i in ordinary_idx if i not in req_idx], WORKER_USER_WITHOUT_REQ))

    pid = WORKER_FIRST_PID
    t = WORKER_START_MS
    req_id = 0
    job_counter = [1000]
    out = []
    fatal_lines, restart_lines = [], []
    for i, level in enumerate(levels):
        if i > 0:
            t += rng.randint(5, 900)
        rec = {"level": 30 if level == "start" else level, "time": t, "pid": pid,
               "hostname": WORKER_HOSTNAME, "node_version": WORKER_NODE_VERSION}
        extra = {}
        user = rng.choice(USERS)
        if level == 60:
            fatal_lines.append(i + 1)
            extra["err"] = worker_err("Error", "Redis connection lost: read ECONNRESET", [
                "TCP.onStreamRead (node:internal/stream_base_commons:217:20)",
            ])
            msg = "uncaught exception, shutting down"
        elif level == "start":
            restart_lines.append(i + 1)
            pid += rng.randint(40, 400)
            rec["pid"] = pid
            extra["concurrency"] = 4
            extra["queues"] = ["default", "mail"]
            msg = "worker started"
        else:
            if i in req_idx:
                req_id += 1
                method, url_tpl = rng.choice(WORKER_ROUTES)
                url = url_tpl.format(case=rng.randint(100, 999), process=rng.randint(500, 999),
                                     step=rng.randint(1, 40), page=rng.randint(1, 9))
                auth = jwt_token(rng, user, t // 1000) if rng.random() < 0.7 else basic_token(rng)
                rec["req"] = {"id": req_id, "method": method, "url": url,
                              "headers": {"host": "api.internal", "authorization": auth,
                                          "user-agent": rng.choice(WORKER_UAS)}}
                msg = worker_req_message(rng, level, extra)
            else:
                msg = worker_job_message(rng, level, extra, job_counter)
            if i in user_idx:
                rec["user"] = {"id": user[0], "email": user[1]}
        # pino-ish order: bindings, req, user, other objects, msg, timings.
        timings = {k: extra.pop(k) for k in ("responseTime", "duration", "retryInMs") if k in extra}
        rec.update(extra)
        rec["msg"] = msg
        rec.update(timings)
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")

    stats = {
        "levels": Counter(30 if lv == "start" else lv for lv in levels),
        "fatal_lines": fatal_lines,
        "restart_lines": restart_lines,
        "req": len(req_idx),
        "user": len(user_idx),
    }
    return "".join(out).encode("utf-8"), stats


# --------------------------------------------------------------------------- #
# nginx/access.log -- combined format
# --------------------------------------------------------------------------- #

NGINX_LINES = 150
NGINX_START = datetime(2025, 8, 20, 10, 30, 0, tzinfo=timezone.utc)
NGINX_REMOTE_USER_LINES = {42: "alice", 118: "ops-admin"}
# A client hammering the login endpoint gets rate limited on these lines.
NGINX_RATE_LIMITED_LINES = (87, 88, 89)
NGINX_RATE_LIMITED_IP = "203.0.113.45"
NGINX_TOOL_UAS = ["curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1"]
NGINX_PROBE_UA = "kube-probe/1.30"
NGINX_STATIC = ["/static/app.js", "/static/app.css", "/static/vendor.js", "/favicon.ico",
                "/static/img/logo.svg", "/static/fonts/NotoSansJP-Regular.woff2"]


def nginx_request(rng):
    """Return (method, path, status, size, referer, user_agent)."""
    kind = rng.choices(["api", "static", "health", "login", "misc"], weights=[55, 15, 17, 7, 6])[0]
    browser = rng.choice(BROWSER_UAS)
    if kind == "health":
        path = rng.choice(["/health", "/health", "/ready"])
        status = rng.choices([200, 503], weights=[97, 3])[0]
        return "GET", path, status, 15 if status == 200 else 197, "-", NGINX_PROBE_UA
    if kind == "static":
        path = rng.choice(NGINX_STATIC)
        status = rng.choices([200, 304, 404], weights=[45, 50, 5])[0]
        size = {200: rng.randint(4_000, 320_000), 304: 0, 404: 153}[status]
        return "GET", path, status, size, "https://app.example.jp/cases", browser
    if kind == "login":
        status = rng.choices([200, 401, 429], weights=[65, 25, 10])[0]
        size = {200: rng.randint(600, 900), 401: 64, 429: 58}[status]
        return "POST", "/api/auth/login", status, size, "https://app.example.jp/login", browser
    if kind == "misc":
        path = rng.choice(["/", "/robots.txt", "/wp-login.php", "/.env", "/cases/123"])
        status = {"/": 200, "/robots.txt": 200, "/cases/123": 200}.get(path, 404)
        ua = rng.choice(NGINX_TOOL_UAS) if status == 404 else browser
        return "GET", path, status, rng.randint(150, 2400), "-", ua
    # api
    method, path = rng.choice([
        ("GET", "/api/cases"),
        ("GET", f"/api/cases?page={rng.randint(1, 9)}&limit=20&sort=-updatedAt"),
        ("GET", f"/api/cases/{rng.randint(100, 999)}"),
        ("POST", "/api/cases"),
        ("PUT", f"/api/cases/{rng.randint(100, 999)}"),
        ("GET", f"/api/processes/{rng.randint(1, 40)}"),
        ("POST", f"/api/processes/{rng.randint(1, 40)}/replan"),
        ("PATCH", f"/api/processes/{rng.randint(1, 40)}/steps/{rng.randint(1, 30)}"),
        ("DELETE", f"/api/cases/{rng.randint(100, 999)}"),
    ])
    ok = {"GET": 200, "POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}[method]
    status = rng.choices([ok, 304, 400, 401, 404, 429, 500, 502, 503],
                         weights=[70, 6 if method == "GET" else 0, 4, 4, 4, 5, 2, 2, 2])[0]
    size = {200: rng.randint(120, 24_000), 201: rng.randint(300, 900), 204: 0, 304: 0,
            400: rng.randint(80, 260), 401: 64, 404: 71, 429: 58,
            500: 92, 502: 157, 503: 197}[status]
    referer = rng.choice(["-", "-", "https://app.example.jp/cases", "https://app.example.jp/processes/12"])
    ua = browser if rng.random() < 0.75 else rng.choice(NGINX_TOOL_UAS)
    return method, path, status, size, referer, ua


def gen_nginx(rng: random.Random) -> tuple[bytes, dict]:
    ts = NGINX_START
    out = []
    statuses = Counter()
    for n in range(1, NGINX_LINES + 1):
        if n > 1:
            ts += timedelta(seconds=rng.randint(1, 5))
        method, path, status, size, referer, ua = nginx_request(rng)
        ip = "10.0.0.12" if ua == NGINX_PROBE_UA else rng.choice(CLIENT_IPS)
        remote_user = NGINX_REMOTE_USER_LINES.get(n, "-")
        if remote_user != "-":
            method, path, status, size, referer, ua = (
                "GET", "/admin/metrics", 200, rng.randint(2_000, 9_000), "-", "curl/8.5.0")
        if n in NGINX_RATE_LIMITED_LINES:
            ip = NGINX_RATE_LIMITED_IP
            method, path, status, size, referer, ua = (
                "POST", "/api/auth/login", 429, 58, "-", "python-requests/2.32.3")
        stamp = ts.strftime("%d/%b/%Y:%H:%M:%S +0000")
        out.append(f'{ip} - {remote_user} [{stamp}] "{method} {path} HTTP/1.1" '
                   f'{status} {size} "{referer}" "{ua}"\n')
        statuses[status] += 1
    return "".join(out).encode("ascii"), {"statuses": statuses}


# --------------------------------------------------------------------------- #
# README
# --------------------------------------------------------------------------- #


def fmt_counts(counter: Counter, order: list) -> str:
    return ", ".join(f"{name}: {counter[key]}" for key, name in order if counter[key])


def render_readme(api: dict, worker: dict, nginx: dict) -> str:
    api_levels = fmt_counts(api["levels"], [(k, k) for k in API_LEVEL_COUNTS])
    spelled = ", ".join(f"{n} (`\"{s}\"`)" for n, s in sorted(api["spelled"].items()))
    worker_levels = fmt_counts(worker["levels"], [(10, "10"), (20, "20"), (30, "30"),
                                                  (40, "40"), (50, "50"), (60, "60")])
    statuses = ", ".join(f"{s}: {c}" for s, c in sorted(nginx["statuses"].items()))
    remote = ", ".join(f"{n} (`{u}`)" for n, u in NGINX_REMOTE_USER_LINES.items())
    fatals = ", ".join(map(str, worker["fatal_lines"]))
    restarts = ", ".join(map(str, worker["restart_lines"]))
    return f"""# Log fixtures

Sample logs for tests and local runs of the agent. **Generated** by
`scripts/gen-fixtures.py` (stdlib only, fixed seed `{SEED}`); do not edit by hand.
Regenerate from the repository root with:

```sh
python3 scripts/gen-fixtures.py
```

Re-running produces byte-identical files. All timestamps fall on 2025-08-20 (UTC),
starting at 10:30:00. Every file ends with `\\n`.

| File | Lines | Format | Contents |
|------|------:|--------|----------|
| `logs/app/api.log` | {API_LINES} | JSON lines (runbook format: `timestamp`, `level`, `message`, `service`, `version`, `environment`, `traceId`, `requestId`, `userId`, `useCase`, `duration`, ..., `context`, `error`, `metadata`) | API service logs: auth (`login_success` with `email`/`ip`, `login_failed`, `access_denied`), business (`case_created`, `replan_completed`), system (`db_connected`, `external_api_call`) and error logs with `error.name/message/stack` (stack contains escaped `\\n`). String levels; some Japanese (UTF-8) messages. |
| `logs/app/worker.log` | {WORKER_LINES} | pino JSON lines, numeric levels (10 trace … 60 fatal), epoch-ms `time` from {WORKER_START_MS} | Worker/HTTP logs. {worker["req"]} lines have `req.headers.authorization` (Bearer JWT-shaped or `Basic …`), {worker["user"]} lines have `user.email`. |
| `logs/nginx/access.log` | {NGINX_LINES} | nginx `combined` | Browser, curl and `kube-probe/1.30` traffic; statuses {statuses}. |

## Special lines (1-based line numbers)

| File | Line | What |
|------|-----:|------|
| `api.log` | {API_TRUNCATED_LINE} | Truncated JSON object (cut inside the `metadata.userAgent` string, no closing brace). |
| `api.log` | {API_PLAINTEXT_LINE} | Plain-text line, not JSON (`Unhandled rejection at: Promise ... ECONNRESET`). |
| `api.log` | {API_INVALID_UTF8_LINE} | Valid JSON object whose `message` contains the invalid UTF-8 bytes `0xff 0xfe`. |
| `api.log` | {spelled} | Level not in lower case (case-insensitivity). |
| `worker.log` | {fatals} | `"level":60` (fatal, uncaught exception). |
| `worker.log` | {restarts} | `worker started` after a fatal; the `pid` changes from here on. |
| `access.log` | {remote} | `remote_user` is set (not `-`). |
| `access.log` | {", ".join(map(str, NGINX_RATE_LIMITED_LINES))} | Rate-limited login burst from `{NGINX_RATE_LIMITED_IP}` (status 429). |

## Level counts

Counts are case-insensitive (`"WARN"` counts as `warn`).

- `api.log`: {api_levels} -- over the 299 lines that carry a level (all but line
  {API_PLAINTEXT_LINE}), including the truncated line {API_TRUNCATED_LINE} (`{api["truncated_level"]}`) and line
  {API_INVALID_UTF8_LINE} (`warn`). A parser that skips line {API_TRUNCATED_LINE} sees one `{api["truncated_level"]}` less.
- `worker.log`: {worker_levels}
"""


# --------------------------------------------------------------------------- #


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    lines = data.count(b"\n")
    print(f"wrote {path.relative_to(ROOT)} ({lines} lines)")


def main() -> None:
    api_data, api_stats = gen_api(random.Random(SEED))
    worker_data, worker_stats = gen_worker(random.Random(SEED + 1))
    nginx_data, nginx_stats = gen_nginx(random.Random(SEED + 2))
    write(API_LOG, api_data)
    write(WORKER_LOG, worker_data)
    write(NGINX_LOG, nginx_data)
    write(README, render_readme(api_stats, worker_stats, nginx_stats).encode("utf-8"))


if __name__ == "__main__":
    main()
