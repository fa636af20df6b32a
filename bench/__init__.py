"""dockhand's benchmark harness (`make bench`); never deployed."""
