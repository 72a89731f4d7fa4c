"""Tickets for the exception backlog: ServiceNow and Jira receivers, fed by a durable outbox."""
