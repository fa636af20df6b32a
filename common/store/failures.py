"""What an unexpected exception means to a client, decided once for every entry point.

The HTTP envelope (common.api) and JSON-RPC (common.mcp.protocol) both answer with
the `ApiError` returned here: a busy or unreachable AWS service is a 503 the client
may retry, anything else a 500 whose cause goes to the log and never to the client.
It lives in `store` because only `store` knows which AWS errors are transient.
"""

from __future__ import annotations

from common.runtime.errors import ApiError, InternalError, ServiceUnavailable
from common.runtime.observability import logger
from common.store.aws import aws_error_code, is_retryable_aws_error


def classify(exc: BaseException, *, unhandled: str = "unhandled error") -> ApiError:
    """The safe error for `exc`, logged: a warning when retryable, else the traceback
    under `unhandled` (each entry point keeps its own log message)."""
    if is_retryable_aws_error(exc):
        logger.warning("backing service unavailable", extra={"aws_code": aws_error_code(exc)})
        return ServiceUnavailable(retry_after=1)
    logger.exception(unhandled, extra={"aws_code": aws_error_code(exc)})
    return InternalError()
