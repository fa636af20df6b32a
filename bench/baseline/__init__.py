"""The FastAPI + Mangum baseline dockhand is measured against."""
