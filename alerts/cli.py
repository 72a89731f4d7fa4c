"""``ledgerline alerts``: run the alert evaluator alone (against a ClickHouse server), or
check the rule and receiver files, or evaluate once and print the alerts."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.store.errors import LedgerlineError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``alerts`` sub-command; it sets ``func`` to :func:`run` (returns an exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "alerts", help="run the alert evaluator alone", description=__doc__
    )
    parser.add_argument("--rules", type=Path, help="rule file (default $LEDGERLINE_ALERT_RULES or the packaged one)")
    parser.add_argument("--receivers", help="receivers config path or inline YAML ($LEDGERLINE_ALERT_RECEIVERS)")
    parser.add_argument("--check", action="store_true", help="validate rules and receivers, then exit")
    parser.add_argument("--once", action="store_true", help="evaluate every rule once, print alerts as JSON")
    parser.set_defaults(func=run)
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from alerts.settings import AlertSettings

    overrides: dict[str, Any] = {}
    if args.rules:
        overrides["alert_rules"] = args.rules
    if args.receivers:
        overrides["alert_receivers"] = args.receivers
    return AlertSettings(**overrides)


def run(args: argparse.Namespace) -> int:
    """0 on a clean stop or a passing check; 2 on configuration or store errors."""
    from alerts.errors import RuleError
    from alerts.routing import load_receivers
    from alerts.rules import check_flows, load_rules
    from lineage.core.flows import load_flows

    try:
        settings = _settings(args)
        rules = load_rules(settings.alert_rules)
        flows = load_flows()  # the business definitions the rules use ($LEDGERLINE_FLOWS)
        check_flows(rules, flows, settings.alert_rules)
        receivers = load_receivers(settings.alert_receivers)
        if args.check:
            print(f"{len(rules)} rules, {len(receivers.receivers)} receivers: OK")
            return 0
        return _serve(settings, args.migrate_store, getattr(args, "dashboard_link", None), once=args.once)
    except (RuleError, LedgerlineError) as exc:
        print(f"ledgerline alerts: {exc}", file=sys.stderr)
        return 2


def _serve(
    settings: Any, migrate_store: Callable[[Any], object], link: Callable[..., str] | None, *, once: bool
) -> int:
    """Evaluate against the store; ``migrate_store`` is the composition root's registry."""
    from alerts.service import AlertService
    from collector.store import open_existing
    from collector.store.lease import ALERTS, Lease
    from lineage.core.scope import EVERYTHING

    # A rule round over a store made here would read an empty one: no alert, "all clear".
    store = open_existing(settings, "alerts --once" if once else "alerts")
    migrate_store(store)
    # Against a server, a second evaluator (another `alerts` or `serve`) waits on the lease.
    lease = None if store.embedded or once else Lease(store, ALERTS, ttl_s=settings.lease_ttl_s)
    service = AlertService(settings, store, link=link, lease=lease)
    try:
        if once:
            service.run_once(force=True)
            print(
                json.dumps(
                    [
                        {"labels": a.labels, "state": a.state.value, "value": a.value, "annotations": a.annotations}
                        for a, _ in service.alerts(EVERYTHING)
                    ],
                    indent=2,
                )
            )
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        service.start()
        stop.wait()
        return 0
    finally:
        service.stop()
        store.close()
