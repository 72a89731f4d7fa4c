"""``ledgerline simulate``: the synthetic support -> middleware -> billing -> ERP estate."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from ledgerline.simulator.causes import CAUSES
from ledgerline.simulator.config import (
    DEFAULT_FAULT_RATES,
    DEFAULT_FLOW_FAULT_RATES,
    DEMO_FLOW_MIX,
    FAULT_KINDS,
    FLOW_FAULT_KINDS,
    TOKEN_ENV,
    SimConfig,
)
from ledgerline.simulator.runner import run_simulation
from lineage.core.timeparse import parse_seconds


def _duration(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a rate in [0, 1]")
    return value


def _mix(text: str) -> dict[str, float]:
    if text.strip() == "all":
        return dict(DEMO_FLOW_MIX)
    out: dict[str, float] = {}
    for part in filter(None, (x.strip() for x in text.split(","))):
        name, _, share = part.partition("=")
        try:
            out[name.strip()] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not flow=share") from None
    return out


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``simulate`` subcommand to an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="send synthetic support_credit transactions, with faults, to a collector",
        description="Simulate a support -> middleware -> billing -> ERP estate over OTLP. "
        "With --backfill alone, sends the history and exits; with neither --count nor --duration, "
        "runs until interrupted.",
    )
    p.add_argument("--seed", type=int, default=42, help="same seed, same transactions (default 42)")
    p.add_argument("--rate", type=float, default=5.0, help="live transactions per second (default 5)")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--count", type=int, help="live transactions to send, then stop")
    limit.add_argument("--duration", type=_duration, help="live traffic for this long, e.g. 10m")
    p.add_argument(
        "--backfill",
        type=_duration,
        default=0.0,
        metavar="WINDOW",
        help="first emit history with past timestamps over this window, e.g. 24h",
    )
    p.add_argument(
        "--backfill-count",
        type=int,
        help="transactions in the backfill (default: rate x window, at most 5000)",
    )
    p.add_argument(
        "--endpoint",
        help="collector endpoint (default http://127.0.0.1:4318/v1/traces, or 127.0.0.1:4317 with --protocol grpc)",
    )
    p.add_argument("--protocol", choices=("http", "grpc"), default="http", help="OTLP transport")
    p.add_argument("--token", help=f"bearer token for the collector (default ${TOKEN_ENV})")
    p.add_argument(
        "--sla", type=_duration, default=4 * 3600.0, help="posting SLA that late postings breach (default 4h)"
    )
    p.add_argument("--batch-hour", type=int, default=2, help="UTC hour of the nightly batch (default 2)")
    p.add_argument("--progress-every", type=_duration, default=5.0, help="progress line interval")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON on stdout")
    faults = p.add_argument_group("fault rates (share of transactions; at most one fault each)")
    for kind in FAULT_KINDS:
        faults.add_argument(
            f"--{kind.replace('_', '-')}-rate",
            dest=f"rate_{kind}",
            type=_rate,
            default=DEFAULT_FAULT_RATES[kind],
            metavar="R",
            help=f"default {DEFAULT_FAULT_RATES[kind]}",
        )
    for kind in FLOW_FAULT_KINDS:
        faults.add_argument(
            f"--{kind.replace('_', '-')}-rate",
            dest=f"rate_{kind}",
            type=_rate,
            default=DEFAULT_FLOW_FAULT_RATES[kind],
            metavar="R",
            help=f"share of its flow's transactions; default {DEFAULT_FLOW_FAULT_RATES[kind]}",
        )
    p.add_argument("--no-faults", action="store_true", help="set every fault rate to 0")
    p.add_argument(
        "--plant-causes",
        nargs="?",
        const="demo",
        choices=sorted(CAUSES),
        metavar="SET",
        help="plant causes for `ledgerline explain` to find: demo (the default: an ERP outage for LL-DE-GmbH "
        "from 3h ago, slow billing for LL-FR-SAS from 5h ago), region_outage (eu-west's ERP postings from 3h "
        "ago), bad_deploy (the ERP's 5.5.0 from 4h ago) or rejected_currency (GBP postings from 6h ago)",
    )
    default_mix = ",".join(f"{k}={v}" for k, v in DEMO_FLOW_MIX.items())
    p.add_argument(
        "--flows",
        type=_mix,
        default={},
        metavar="MIX",
        help=f"run other flows beside support_credit, each a share of the traffic, e.g. {default_mix} "
        "(or 'all' for that mix)",
    )
    p.add_argument(
        "--replay-port",
        type=int,
        metavar="P",
        help="answer ledgerline replay requests on 127.0.0.1:P (ERP and billing adapters re-post); "
        "keeps running after the traffic until Ctrl-C",
    )
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The simulation config the parsed arguments describe."""
    rates = {k: 0.0 if args.no_faults else getattr(args, f"rate_{k}") for k in FAULT_KINDS}
    flow_rates = {k: 0.0 if args.no_faults else getattr(args, f"rate_{k}") for k in FLOW_FAULT_KINDS}
    return SimConfig(
        seed=args.seed,
        rate=args.rate,
        count=args.count,
        duration_s=args.duration,
        backfill_s=args.backfill,
        backfill_count=args.backfill_count,
        endpoint=args.endpoint,
        protocol=args.protocol,
        token=args.token,
        fault_rates=rates,
        flow_mix=args.flows,
        flow_fault_rates=flow_rates,
        causes=CAUSES[args.plant_causes] if args.plant_causes else (),
        sla_s=args.sla,
        batch_hour=args.batch_hour,
        progress_every_s=args.progress_every,
        live=not (args.backfill and args.count is None and args.duration is None),
    )


def run(args: argparse.Namespace) -> int:
    """Run ``ledgerline simulate``; 0 when every span was delivered."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(f"simulate: seed {config.seed}, {config.protocol} -> {config.target}", file=sys.stderr)
    stop = threading.Event()
    # Ctrl-C or SIGTERM: stop, flush, summarise
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    responder = None
    try:
        if args.replay_port is not None:
            from ledgerline.simulator.replay import ReplayResponder

            responder = ReplayResponder(config, args.replay_port).start()
            print(f"simulate: answering replays at {responder.url}", file=sys.stderr)
        summary = run_simulation(config, stop)
        while responder is not None and not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if responder is not None:
            responder.stop()
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.format(config))
    return 1 if summary.spans_failed else 0
