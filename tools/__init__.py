"""Developer-side tooling: local gateway, CLI, infra model. Never deployed."""
