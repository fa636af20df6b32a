"""The user-facing `dockhand` command."""
