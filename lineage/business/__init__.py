"""A flow's business questions: KPIs, waiting queues and reconciliations (api, models, queries, service)."""
