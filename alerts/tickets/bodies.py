"""Ticket request bodies in their published shapes: the ServiceNow Table API and the Jira REST
API v2 (plain text) and v3 (Atlassian Document Format). Pure: no I/O."""

from __future__ import annotations

from typing import Any

from alerts.routing import Receiver

Line = tuple[str, str]  # (text, link or "")


def marker(exception_id: str) -> str:
    """The mark a ticket carries so a retried open finds it instead of opening a second one."""
    return f"ledgerline-{exception_id}"


def title(exc: dict[str, Any]) -> str:
    """One line: what failed, where, on which entity."""
    what = exc.get("category") or exc.get("last_outcome") or "failure"
    return f"[ledgerline] {what} at {exc['system']}: {exc['business_key']} ({exc['step']})"


def money(exc: dict[str, Any]) -> str:
    """The entity's amount, or that it is unknown."""
    if exc.get("amount") is None:
        return "amount unknown"
    return f"{exc['amount']:,.2f} {exc.get('currency') or ''}".strip()


def lines(exc: dict[str, Any], lineage_url: str, evidence_url: str) -> list[Line]:
    """The description of a new ticket: the transaction's summary, its money and the two links."""
    out: list[Line] = [
        (f"{exc.get('message') or exc['last_outcome']}", ""),
        (f"Entity: {exc['business_key']}, step {exc['step']}, system {exc['system']}", ""),
        (f"Money: {money(exc)}", ""),
        (f"Correlation ID: {exc['correlation_id']}", ""),
        (f"First seen {exc['first_seen']}, {exc['attempts']} attempt(s); exception {exc['id']}", ""),
        ("Lineage in ledgerline", lineage_url),
        ("Evidence pack", evidence_url),
    ]
    return out


def plain(body: list[Line]) -> str:
    """Lines as text, links written out."""
    return "\n".join(f"{text}: {href}" if href else text for text, href in body)


def adf(body: list[Line]) -> dict[str, Any]:
    """Lines as an Atlassian Document Format document, one paragraph each, links as link marks."""

    def node(text: str, href: str) -> dict[str, Any]:
        if href:
            return {"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": href}}]}
        return {"type": "text", "text": text}

    paragraphs = [{"type": "paragraph", "content": [node(text, href)]} for text, href in body if text]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _text(receiver: Receiver, body: list[Line]) -> str | dict[str, Any]:
    return adf(body) if receiver.api_version == 3 else plain(body)


# -- ServiceNow Table API -----------------------------------------------------------------------
def servicenow_create(receiver: Receiver, head: str, body: list[Line], mark: str) -> dict[str, Any]:
    """``POST /api/now/table/<table>``: short description, description, the correlation mark."""
    return {
        "short_description": head[:160],
        "description": plain(body),
        receiver.correlation_field: mark,
        **receiver.fields,
    }


def servicenow_comment(receiver: Receiver, text: str) -> dict[str, Any]:
    """``PATCH /api/now/table/<table>/<sys_id>``: a work note (or customer-visible comment)."""
    return {receiver.comment_field: text}


def servicenow_resolve(receiver: Receiver, note: str) -> dict[str, Any]:
    """``PATCH /api/now/table/<table>/<sys_id>``: the resolved state, its close code and notes."""
    return {**receiver.resolve_fields, "close_notes": note or "Resolved in ledgerline."}


# -- Jira REST API v2 / v3 ------------------------------------------------------------------------
def jira_create(receiver: Receiver, head: str, body: list[Line], mark: str) -> dict[str, Any]:
    """``POST /rest/api/{2|3}/issue``: project, issue type, summary, description, labels."""
    fields: dict[str, Any] = {
        "project": {"key": receiver.project},
        "issuetype": {"name": receiver.issue_type},
        "summary": head[:255],
        "description": _text(receiver, body),
        "labels": ["ledgerline", mark],
    }
    return {"fields": fields | receiver.fields}


def jira_comment(receiver: Receiver, text: str) -> dict[str, Any]:
    """``POST /rest/api/{2|3}/issue/{key}/comment``."""
    return {"body": _text(receiver, [(text, "")])}


def jira_transition(receiver: Receiver, transition_id: str, note: str) -> dict[str, Any]:
    """``POST /rest/api/{2|3}/issue/{key}/transitions``, the note added as a comment on the way."""
    out: dict[str, Any] = {"transition": {"id": transition_id}}
    if note:
        out["update"] = {"comment": [{"add": {"body": _text(receiver, [(note, "")])}}]}
    return out
