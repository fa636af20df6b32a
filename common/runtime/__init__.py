"""The Lambda runtime: HTTP envelope, errors, config, logging, metric catalogue, clock, ids."""
