"""Replay from the exception backlog: ask the owning system to retry one failed hop, with
four-eyes approval, durable state and proof of completion in lineage (issue 13)."""
