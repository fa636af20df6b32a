"""Generators: OpenAPI document, dashboard, Lambda artefacts."""
