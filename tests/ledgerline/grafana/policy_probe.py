"""A child process for tests/ledgerline/grafana/test_access.py: the embedded engine (chdb) runs
every query as its built-in user and cannot create users or SQL row policies, but it enforces
the row filters of a users file. So, in two processes on one data directory:

    python -m tests.ledgerline.grafana.policy_probe load DIR
        a store with the transactions of two legal entities (a failure and an acknowledgement each);
    python -m tests.ledgerline.grafana.policy_probe query DIR USERS_XML USER QUERIES_JSON
        the engine started with USER's filters from the generated users file given to its
        built-in user (USERS_XML "-": no filters); runs each query and prints the rows as JSON.
"""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

DATABASE = "ledgerline"
LEGAL_ENTITIES = ("LL-DE-GmbH", "LL-FR-SAS")

_SPAN = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT fromUnixTimestamp64Milli({at_ms:Int64}), {trace:String}, {span:String}, '', '', {step:String}, 'Internal',
    'probe', map('service.name', 'probe'), 'probe', '1',
    map('correlation.id', {cid:String}, 'biz.flow', 'support_credit', 'biz.entity.type', {etype:String},
        'biz.entity.id', {eid:String}, 'biz.step', {step:String}, 'biz.system', {system:String},
        'biz.outcome', {outcome:String}, 'biz.error.category', {category:String}, 'biz.amount', '100',
        'biz.currency', 'EUR', 'biz.region', 'eu-west', 'biz.legal_entity', {le:String}),
    1000000, if({outcome:String} = 'ok', 'Ok', 'Error'), ''
"""


def load(path: Path) -> None:
    from collector.settings import StoreSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all
    from lineage.sql.exceptions import INSERT_EXCEPTION_ACTION
    from lineage.sql.queries import EXC_ID

    store = open_store(StoreSettings(clickhouse_url=f"chdb://{path}", clickhouse_database=DATABASE))
    migrate_all(store)
    now = time.time_ns() // 1_000_000
    steps = (("case", "case.opened", "ok"), ("invoice", "invoice.issued", "ok"), ("ledger", "ledger.posted", "failed"))
    for n, le in enumerate(LEGAL_ENTITIES):
        for i, (etype, step, outcome) in enumerate(steps):
            store.command(
                _SPAN,
                {
                    "at_ms": now - 3_600_000 + i * 60_000,
                    "trace": f"{n:032x}",
                    "span": f"{n * 10 + i:016x}",
                    "cid": f"C-{le}",
                    "etype": etype,
                    "eid": f"{etype.upper()}-{le}",
                    "step": step,
                    "system": "erp" if etype == "ledger" else "billing",
                    "outcome": outcome,
                    "category": "tax_error" if outcome != "ok" else "",
                    "le": le,
                },
            )
        exc_id = store.query(f"SELECT {EXC_ID} FROM (SELECT 'ledger' AS EntityType, {{e:String}} AS EntityId, "
                             "'ledger.posted' AS Step)", {"e": f"LEDGER-{le}"})[0][0]  # fmt: skip
        store.command(
            INSERT_EXCEPTION_ACTION,
            {"id": exc_id, "action": "ack", "actor": "probe", "note": le, "at_ms": now,
             "entity_type": "ledger", "entity_id": f"LEDGER-{le}", "step": "ledger.posted"},
        )  # fmt: skip
    store.close()


def _config(path: Path, users_xml: str, user: str) -> Path:
    """A config and users file: the built-in user gets ``user``'s filters (and nothing else)."""
    generated = ET.fromstring(users_xml)
    databases = generated.find(f"users/{user}/databases")
    if databases is None:
        raise SystemExit(f"no filters for {user} in the users file")
    users = ET.Element("clickhouse")
    default = ET.SubElement(ET.SubElement(users, "users"), "default")
    for tag, text in (("password", ""), ("profile", "default"), ("quota", "default")):
        ET.SubElement(default, tag).text = text
    ET.SubElement(ET.SubElement(default, "networks"), "ip").text = "::/0"
    default.append(databases)
    ET.SubElement(ET.SubElement(users, "profiles"), "default")
    ET.SubElement(ET.SubElement(users, "quotas"), "default")
    users_path = path.parent / "probe-users.xml"
    users_path.write_text(ET.tostring(users, encoding="unicode"))
    config = path.parent / "probe-config.xml"
    config.write_text(
        f"<clickhouse><user_directories><users_xml><path>{users_path}</path></users_xml></user_directories></clickhouse>"
    )
    return config


def query(path: Path, users_xml: Path, user: str, queries: Path) -> None:
    import chdb

    if str(users_xml) == "-":
        conn = chdb.connect(f"file:{path}")
    else:
        conn = chdb.connect(f"file:{path}?config-file={_config(path, users_xml.read_text(), user)}")
    cur = conn.cursor()
    cur.execute(f"USE {DATABASE}")
    out = []
    for sql in json.loads(queries.read_text()):
        cur.execute(sql)
        out.append([list(map(str, row)) for row in cur.fetchall()])
    conn.close()
    print(json.dumps(out))


def main(argv: list[str]) -> None:
    if argv[0] == "load":
        load(Path(argv[1]))
    else:
        query(Path(argv[1]), Path(argv[2]), argv[3], Path(argv[4]))


if __name__ == "__main__":
    main(sys.argv[1:])
