"""The HTTP layer of lineage: the app, its dependencies, routers and response models."""
