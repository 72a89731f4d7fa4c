"""Shared controls as a value: parsed from and written to URL query parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

PAGES = {
    "overview": "Overview",
    "latency": "Posting latency",
    "exceptions": "Exception backlog",
    "sla": "SLA breaches",
    "lineage": "Lineage explorer",
    "replays": "Replays",
    "drill": "Drill-down",
    "alerts": "Alerts",
    "flows": "Flows",
    "reconciliation": "Reconciliation",
    "close": "Period close",
}
RANGES = {
    "6h": ("15m", timedelta(minutes=15)),
    "24h": ("1h", timedelta(hours=1)),
    "7d": ("6h", timedelta(hours=6)),
    "30d": ("1d", timedelta(days=1)),
}
CUSTOM = "custom"  # an absolute range: start and end

REFRESH = {"off": 0, "30s": 30, "1m": 60, "5m": 300}


@dataclass(frozen=True)
class Filters:
    """What the user looks at; every field round-trips through the URL."""

    page: str = "overview"
    range: str = "24h"
    flow: str = ""
    system: str = ""
    region: str = ""
    legal_entity: str = ""
    refresh: str = "off"
    correlation_id: str = ""
    q: str = ""
    stage: str = ""
    state: str = ""  # exceptions: open, acknowledged, resolved ("" = open)
    category: str = ""
    drill: str = ""  # drill-down: open_exceptions, stuck, failed, breached
    start: str = ""  # custom range, ISO-8601 (UTC)
    end: str = ""
    rec: str = ""  # reconciliation: the reconciliation picked ("" = the first)
    heat_by: str = ""  # latency: the heatmap's grouping ("" = system)
    period: str = ""  # close: the period (YYYY-MM; "" = last month)

    @property
    def preset(self) -> str:
        """The preset range closest to the custom one (sets the bucket), else the range itself."""
        if self.range != CUSTOM:
            return self.range
        span = custom_span(self.start, self.end)
        return next((r for r in RANGES if span <= _DURATIONS[r]), "30d")

    @property
    def bucket(self) -> str:
        """The metrics bucket that suits the time range."""
        return RANGES[self.preset][0]

    @property
    def bucket_delta(self) -> timedelta:
        """The bucket as a timedelta."""
        return RANGES[self.preset][1]

    @property
    def since(self) -> str:
        """The API's ``since`` for the range (a duration ago, or the custom start)."""
        return self.start if self.range == CUSTOM else self.range

    @property
    def until(self) -> str:
        """The API's ``until``: the custom end, or empty (now)."""
        return self.end if self.range == CUSTOM else ""

    @property
    def label(self) -> str:
        """The range in words."""
        if self.range == CUSTOM:
            return f"{self.start.replace('T', ' ')} → {self.end.replace('T', ' ')} UTC"
        return f"last {self.range}"

    def context(self) -> dict[str, str]:
        """The query context every figure route takes (lineage/api/context.py): window and filters."""
        return {
            "since": self.since,
            "until": self.until,
            "flow": self.flow,
            "system": self.system,
            "region": self.region,
            "legal_entity": self.legal_entity,
        }

    def fine_bucket(self) -> str:
        """A bucket about 1/1000 of the range, for distributions."""
        return {"6h": "1m", "24h": "2m", "7d": "10m", "30d": "1h"}[self.preset]


_DURATIONS = {"6h": timedelta(hours=6), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def parse_utc(text: str) -> datetime:
    """An ISO-8601 date or time, UTC unless it says otherwise; ValueError when it is not one."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def custom_span(start: str, end: str) -> timedelta:
    """The length of a custom range; ValueError unless both ends parse and end is after start."""
    span = parse_utc(end) - parse_utc(start)
    if span <= timedelta(0):
        raise ValueError("the end of the range must be after its start")
    if span > timedelta(days=92):
        raise ValueError("a range may span 92 days at most")
    return span


def from_params(params: Mapping[str, str | list[str]]) -> Filters:
    """Filters from query parameters; unknown or invalid values fall back to the defaults."""
    values: dict[str, str] = {}
    for name in Filters.__dataclass_fields__:
        raw = params.get(name)
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if raw:
            values[name] = str(raw).strip()
    filters = Filters(**values)
    if filters.page not in PAGES:
        filters = replace(filters, page="overview")
    if filters.range == CUSTOM:
        try:
            custom_span(filters.start, filters.end)
        except ValueError:
            filters = replace(filters, range="24h", start="", end="")
    elif filters.range not in RANGES:
        filters = replace(filters, range="24h")
    if filters.range != CUSTOM:
        filters = replace(filters, start="", end="")
    if filters.refresh not in REFRESH:
        filters = replace(filters, refresh="off")
    return filters


def _first(params: Mapping[str, str | list[str]], name: str) -> str:
    raw = params.get(name)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    return str(raw or "").strip()


def problems(params: Mapping[str, str | list[str]]) -> list[str]:
    """What :func:`from_params` could not use from a URL, in words naming the value and what is
    shown instead (an unknown page or range, a malformed or impossible custom range)."""
    out = []
    page, rng = _first(params, "page"), _first(params, "range")
    if page and page not in PAGES:
        out.append(f"Unknown page {page!r} in the link; known: {', '.join(PAGES)}. Showing the overview instead.")
    if rng == CUSTOM:
        start, end = _first(params, "start"), _first(params, "end")
        try:
            custom_span(start, end)
        except ValueError as exc:
            reason = str(exc) if start and end else "it needs both a start and an end"
            out.append(
                f"Custom range {start or '(no start)'} → {end or '(no end)'} not used ({reason}); "
                "showing the last 24h instead."
            )
    elif rng and rng not in RANGES:
        out.append(f"Unknown range {rng!r}; known: {', '.join([*RANGES, CUSTOM])}. Showing the last 24h instead.")
    return out


def to_params(filters: Filters) -> dict[str, str]:
    """Non-default fields as query parameters."""
    default = asdict(Filters())
    return {k: v for k, v in asdict(filters).items() if v and v != default[k]}


def link(filters: Filters, **changes: str) -> str:
    """A relative URL (``?page=...``) to a view with these filters and changes."""
    return "?" + urlencode(to_params(replace(filters, **changes)))


def check_link(params: Mapping[str, str]) -> None:
    """ValueError unless ``params`` names a page and only filters the dashboard has."""
    unknown = sorted(set(params) - set(Filters.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"unknown dashboard filter(s) {', '.join(unknown)}; known: {', '.join(Filters.__dataclass_fields__)}"
        )
    if params.get("page") not in PAGES:
        raise ValueError(f"unknown dashboard page {params.get('page')!r}; known: {', '.join(PAGES)}")


def link_to(params: Mapping[str, str]) -> str:
    """The relative URL of a page with filters, e.g. ``{"page": "latency", "system": "erp"}``.

    The one way links into the dashboard are built (alert notifications use it too), so a
    link always parses back (:func:`from_params`) to the page and filters it names.
    """
    check_link(params)
    return "/" + link(Filters(), **dict(params))


CONTEXT = ("range", "start", "end", "flow", "system", "region", "legal_entity", "refresh")


def carry(filters: Filters, url: str) -> str:
    """A dashboard link (an alert's ``dashboard_url``) as a relative link that keeps the viewer's
    context (range, filters) under the link's own page and filters; a link that is not one of the
    dashboard's comes back unchanged."""
    params = dict(parse_qsl(urlsplit(url).query))
    try:
        check_link(params)
    except ValueError:
        return url
    context = {name: getattr(filters, name) for name in CONTEXT}
    return link(Filters(**context), **params)
