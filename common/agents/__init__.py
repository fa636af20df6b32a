"""Agents: registration, signed heartbeats, the sweeper."""
