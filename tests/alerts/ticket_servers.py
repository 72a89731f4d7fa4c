"""Loopback fakes of the ServiceNow Table API and the Jira REST API (v2 and v3), answering in
their published shapes and recording every request, plus a failing span writer for tickets."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.store import Store

USER, PASSWORD = "svc-ledgerline", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
_SPANS = iter(range(1, 10**9))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def failure(
    store: Store,
    entity: str,
    *,
    category: str = "posting_period_closed",
    amount: float | None = 1500.0,
    currency: str = "EUR",
    legal_entity: str = "DE01",
    step: str = "ledger.posted",
    end_ms: int | None = None,
) -> None:
    """A failed business hop of ``entity`` (type:id), a minute ago unless ``end_ms``."""
    etype, eid = entity.split(":")
    attrs = {
        "correlation.id": f"C-{eid}",
        "biz.entity.type": etype,
        "biz.entity.id": eid,
        "biz.step": step,
        "biz.system": "sap",
        "biz.outcome": "failed",
        "biz.region": "emea",
        "biz.legal_entity": legal_entity,
        "biz.flow": "support_credit",
        "biz.error.category": category,
    }
    if amount is not None:
        attrs |= {"biz.amount": str(amount), "biz.currency": currency}
    n = next(_SPANS)
    end = end_ms if end_ms is not None else now_ms() - 60_000
    start = datetime.fromtimestamp((end - 1000) / 1000, tz=UTC)
    row = [start, f"{n:032x}", f"{n:016x}", "sap", step, attrs, 1_000_000_000, "Error"]
    cols = ["Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName", "SpanAttributes", "Duration", "StatusCode"]
    store.insert("otel_traces", [row], cols)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Fake:
    """State of a fake ticket system. ``script``: statuses answered first, one per request
    (``(status, headers)``); with ``lose_answers`` a request is carried out but answered 500."""

    kind: str
    requests: list[Request] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lose_answers: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def handle(self, req: Request) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.requests.append(req)
            if self.script:
                status, headers = self.script.pop(0)
                return status, headers, {"error": {"message": "scripted"}}
            if req.headers.get("Authorization") != BASIC:
                return 401, {}, {"error": {"message": "auth"}}
            status, body = self._servicenow(req) if self.kind == "servicenow" else self._jira(req)
            if self.lose_answers and status < 300:
                self.lose_answers -= 1
                return 500, {}, {"error": {"message": "answer lost"}}
            return status, {}, body

    def _servicenow(self, req: Request) -> tuple[int, Any]:
        parts = req.path.strip("/").split("/")  # api now table <table> [sys_id]
        if parts[:3] != ["api", "now", "table"] or len(parts) not in (4, 5):
            return 404, {"error": {"message": "no such path"}}
        if req.method == "POST" and len(parts) == 4:
            n = len(self.records) + 1
            record = {"sys_id": f"{n:032x}", "number": f"INC{10000 + n:07d}", "state": "1", **req.body}
            self.records[record["number"]] = record
            return 201, {"result": record}
        if req.method == "GET" and len(parts) == 4:
            field_, _, value = req.query["sysparm_query"][0].partition("=")
            return 200, {"result": [r for r in self.records.values() if r.get(field_) == value]}
        if req.method == "PATCH" and len(parts) == 5:
            record = next((r for r in self.records.values() if r["sys_id"] == parts[4]), None)
            if record is None:
                return 404, {"error": {"message": "no record"}}
            record.update(req.body)
            return 200, {"result": record}
        return 405, {}

    def _jira(self, req: Request) -> tuple[int, Any]:
        parts = req.path.strip("/").split("/")  # rest api <v> ...
        if parts[:2] != ["rest", "api"] or parts[2] not in ("2", "3"):
            return 404, {"errorMessages": ["no such path"]}
        rest = parts[3:]
        if req.method == "POST" and rest == ["issue"]:
            n = len(self.records) + 1
            key = f"OPS-{n}"
            self.records[key] = {"id": str(10000 + n), "key": key, "fields": req.body["fields"], "done": False}
            self.records[key]["comments"] = []
            return 201, {"id": str(10000 + n), "key": key, "self": f"{self.url}/rest/api/{parts[2]}/issue/{10000 + n}"}
        if req.method == "GET" and rest in (["search"], ["search", "jql"]):
            label = req.query["jql"][0].split('"')[1]
            found = [{"id": r["id"], "key": k} for k, r in self.records.items() if label in r["fields"]["labels"]]
            if rest == ["search", "jql"]:  # the enhanced search (v3) answers ids unless asked for more
                found = [{"id": f["id"]} for f in found]
            return 200, {"issues": found}
        by_id = {r["id"]: k for k, r in self.records.items()}
        if len(rest) < 2 or rest[0] != "issue" or by_id.get(rest[1], rest[1]) not in self.records:
            return 404, {"errorMessages": ["Issue does not exist"]}
        key = by_id.get(rest[1], rest[1])
        issue = self.records[key]
        if req.method == "POST" and rest[2:] == ["comment"]:
            issue["comments"].append(req.body["body"])
            return 201, {"id": "1"}
        if req.method == "GET" and rest[2:] == ["transitions"]:
            ts = [{"id": "21", "name": "In Progress"}] + ([] if issue["done"] else [{"id": "31", "name": "Done"}])
            return 200, {"transitions": ts}
        if req.method == "POST" and rest[2:] == ["transitions"]:
            if req.body["transition"]["id"] != "31" or issue["done"]:
                return 400, {"errorMessages": ["Transition id is not valid"]}
            issue["done"] = True
            issue["comments"] += [c["add"]["body"] for c in req.body.get("update", {}).get("comment", [])]
            return 204, None
        if req.method == "GET" and rest[2:] == []:
            category = "done" if issue["done"] else "indeterminate"
            return 200, {"id": issue["id"], "key": key, "fields": {"status": {"statusCategory": {"key": category}}}}
        return 405, {}


@contextmanager
def fake(kind: str, port: int = 0) -> Iterator[Fake]:
    """A running fake ServiceNow or Jira on loopback (``port`` 0: any free one)."""
    state = Fake(kind)

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            split = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            body = json.loads(raw) if raw else None
            req = Request(self.command, split.path, parse_qs(split.query), dict(self.headers.items()), body)
            status, headers, answer = state.handle(req)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _any  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
