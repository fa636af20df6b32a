"""Daily figures: counters rolled up per tenant."""
