"""``ledgerline serve``: collector, lineage API, alert evaluator and sealer, all or some of them.

``--components`` picks the parts, so collectors scale out behind a load balancer and the API
separately. Against a ClickHouse server several processes may run the alert evaluator and
the sealer: each runs under a lease in the store (collector/store/lease.py), so one is
active and the others wait to take over. The embedded store has one owner process, so
there it takes no lease.

Each process has one metrics registry (:func:`platform_registry`) that every part it runs
registers into; the collector's ``/metrics`` and the API's ``/metrics`` both serve all of it, so
the health of every part is scrapeable wherever it runs (docs/alerts.md, "Alerting on ledgerline").
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector

from collector import heap
from collector.service import Collector, UvicornThread
from collector.settings import CollectorSettings
from collector.store import Store, open_store
from collector.store.errors import ConfigError
from collector.store.lease import ALERTS, REPLAY, SEALER, Lease
from ledgerline.config import ServeConfig, load_serve_config
from ledgerline.schema import pending, prepare_store
from lineage.auth.settings import AuthSettings
from lineage.evidence.service import EvidenceService
from lineage.evidence.settings import EvidenceSettings

log = logging.getLogger(__name__)

COLLECTOR, API, ALERTING, SEALING = "collector", "api", "alerts", "sealer"
COMPONENTS = frozenset({COLLECTOR, API, ALERTING, SEALING})


def open_and_migrate(settings: CollectorSettings, evidence: EvidenceSettings) -> Store:
    """Open the store, apply every component's migrations and the retention tiers.

    On a cluster ``serve`` changes no schema: many processes start at once, and schema
    changes there are one explicit ``ledgerline migrate --cluster`` (a Job, a one-shot
    service). A process whose schema is behind refuses to start until that has run.
    """
    store = open_store(settings)
    if settings.clickhouse_cluster is not None:
        missing = pending(store)
        if missing:
            store.close()
            raise ConfigError(
                f"the cluster schema lacks migrations {missing}: "
                f"run `ledgerline migrate --cluster {settings.clickhouse_cluster}` first"
            )
        return store
    applied = prepare_store(store, evidence)
    if applied:
        log.info("applied schema migrations %s", applied)
    return store


def platform_registry() -> CollectorRegistry:
    """The process's metrics registry: the parts register into it, plus the process's own figures
    (``process_resident_memory_bytes``, ``process_start_time_seconds``, open file descriptors)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class Server:
    """The parts ``ledgerline serve`` runs, started and stopped in a safe order."""

    def __init__(
        self,
        settings: CollectorSettings,
        api_port: int = 8000,
        auth: AuthSettings | None = None,
        components: frozenset[str] = COMPONENTS,
    ) -> None:
        unknown = sorted(set(components) - COMPONENTS)
        if unknown or not components:
            raise ValueError(f"unknown components {unknown}; choose from {sorted(COMPONENTS)}")
        self.components = frozenset(components)
        # Every setting and file is checked before the store is opened or a port is bound.
        self.config = load_serve_config(settings, auth, listens=COLLECTOR in self.components)
        self.settings = settings
        self.store = open_and_migrate(settings, self.config.evidence)
        self.registry = platform_registry()
        collecting = COLLECTOR in self.components
        self.collector = Collector(settings, store=self.store, registry=self.registry) if collecting else None
        self.api: UvicornThread | None = None
        self.api_port = api_port
        self.alerts: Any = None
        self.replay: Any = None
        # The seal key is loaded (or created) before anything listens.
        self.evidence: EvidenceService | None = None
        if self.components & {API, SEALING}:  # a collector alone needs no seal key
            sealing = SEALING in self.components
            lease = self._lease(SEALER) if sealing else None
            registry = self.registry if sealing else None  # only a sealing process reports sealing
            self.evidence = EvidenceService(self.config.evidence, self.store, lease=lease, registry=registry)

    def _lease(self, name: str) -> Lease | None:
        """The lease guarding a singleton worker; none on the embedded store (one owner process)."""
        if self.store.embedded:
            return None
        return Lease(self.store, name, ttl_s=self.settings.lease_ttl_s)

    def start(self) -> None:
        """Start the chosen parts: collector, alert evaluator, sealer, then the API (with the alerts routes)."""
        from alerts.service import AlertService
        from dashboard.state import link_to

        cfg = self.config
        try:
            if self.collector is not None:
                self.collector.start()
            evaluating = ALERTING in self.components
            lease = self._lease(ALERTS) if evaluating else None
            self.alerts = AlertService(
                cfg.alerts,
                self.store,
                cfg.rules,
                cfg.receivers,
                link=link_to,
                flows=cfg.flows,
                lease=lease,
                evaluating=evaluating,
                registry=self.registry if evaluating else None,  # only an evaluating process reports rounds
                why=explainer(self.store, cfg) if evaluating else None,
            )
            if evaluating:
                self.alerts.start()
            if SEALING in self.components and self.evidence is not None:
                self.evidence.start()
            if API in self.components:
                self._start_api()
            heap.settle()  # everything built to serve, out of the garbage collector's walks
        except BaseException:
            self.stop()  # nothing left running, the store closed cleanly
            raise

    def _start_api(self) -> None:
        cfg = self.config
        app = compose_app(self.store, cfg.auth, self.alerts, cfg, self.evidence, self.registry)
        _hint_first_token(cfg.auth, self.store)
        self.replay = app.state.replay_worker
        lease = self._lease(REPLAY)
        if lease is not None:
            self.replay.guard(lease)
        timeout = self.settings.header_timeout_s
        self.api = UvicornThread(app, self.settings.host, self.api_port, header_timeout_s=timeout)
        self.api.start()
        self.api_port = self.api.port
        self.replay.start()

    def stop(self) -> None:
        """Stop serving; everything acknowledged is committed (and sealed) before this returns."""
        if self.evidence is not None:
            self.evidence.stop()
        if self.replay is not None:
            self.replay.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self.api is not None:
            self.api.stop()
        if self.collector is not None:
            self.collector.stop()
        if SEALING in self.components and self.evidence is not None:
            self.evidence.final_seal()
        self.store.close()
        self.alerts = self.api = self.replay = None

    def urls(self) -> dict[str, str]:
        """Where each part listens."""
        host = self.settings.host
        urls = {}
        if self.collector is not None:
            urls = {
                "otlp_http": f"http://{host}:{self.collector.http_port}/v1/traces",
                "otlp_grpc": f"{host}:{self.collector.grpc_port}",
                "metrics": f"http://{host}:{self.collector.http_port}/metrics",
            }
        if self.api is not None:
            urls["api"] = f"http://{host}:{self.api_port}/docs"
            urls.setdefault("metrics", f"http://{host}:{self.api_port}/metrics")  # the same registry
        return urls


def explainer(store: Store, config: ServeConfig) -> Any:
    """The alert evaluator's "why?": the top findings of an instance's subject (lineage/explain)."""
    from lineage.core.service import Lineage
    from lineage.explain.summary import why_text
    from lineage.replay.document import replays_of

    svc = Lineage(config.lineage, store, config.flows, replays=replays_of(store))
    return lambda rule, labels, now_ms: why_text(svc, rule.kind, rule.expr, labels, now_ms)


def compose_app(
    store: Store,
    auth: AuthSettings,
    alerts: Any,
    config: ServeConfig | None = None,
    evidence: EvidenceService | None = None,
    registry: CollectorRegistry | None = None,
) -> Any:
    """The API app ``serve`` runs: lineage, auth, replay, evidence and alerts routes.

    ``serve`` passes its validated config, its evidence service (with the seal key) and its
    metrics registry; without them (tests, tools) settings come from the environment, seals use
    a throwaway key and the app has a registry of its own.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alerts.api import router as alerts_router
    from alerts.tickets.api import router as tickets_router
    from lineage.api.app import create_app
    from lineage.settings import LineageSettings

    if evidence is None:
        evidence = EvidenceService(EvidenceSettings(), store, key=Ed25519PrivateKey.generate())
    extra, state = (alerts_router, tickets_router), {"alerts": alerts}
    if config is None:
        return create_app(
            LineageSettings(), store, auth, evidence=evidence, extra_routers=extra, state=state, registry=registry
        )
    return create_app(
        config.lineage,
        store,
        auth,
        flows=config.flows,
        replay=config.replay,
        targets=config.targets,
        evidence=evidence,
        extra_routers=extra,
        state=state,
        registry=registry,
        close=config.close,
    )


def _hint_first_token(auth: AuthSettings, store: Store) -> None:
    """With auth on and no way to authenticate yet, say how to get a credential (one line)."""
    from lineage.auth.tokens import TokenStore

    if auth.enabled and not auth.oidc_configured and TokenStore(store).count() == 0:
        print(
            "  no API tokens yet: run `ledgerline token create --subject you@example.com --role admin`"
            " (embedded store: stop serve first), or set LEDGERLINE_API_AUTH=off on loopback",
            flush=True,
        )


def print_urls(server: Server) -> None:
    """Tell the user where each part listens."""
    for name, url in server.urls().items():
        print(f"  {name:10s} {url}", flush=True)
    evidence = server.evidence
    if evidence is not None:
        created = f" (new key {evidence.key_path})" if evidence.created_key else ""
        print(f"  {'seal_key':10s} {evidence.fingerprint}{created}", flush=True)
