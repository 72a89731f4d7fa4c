"""Alerts: rules evaluated against the store, a persisted per-instance state machine and
notification delivery (webhook, Alertmanager, Slack, PagerDuty). See docs/alerts.md."""
