"""Turn `claude_pool.kube` errors into the SDK's own (`errors`), with a message that says
which object was missing. Used around every door call of `claude_pool.sdk.client`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pydantic import ValidationError

from claude_pool.kube.client import ApiError, NotFound
from claude_pool.kube.streams import Unreachable
from claude_pool.sdk.errors import (
    ApiFailure,
    ClusterUnavailable,
    Forbidden,
    InvalidRequest,
    PoolSdkError,
)


def _message(error: ApiError) -> str:
    text = str(error)
    prefix = f"{error.status}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


@contextlib.contextmanager
def translated(missing: PoolSdkError | None = None) -> Iterator[None]:
    """Re-raise kube errors as SDK errors; a 404 becomes `missing` when given."""
    try:
        yield
    except NotFound as error:
        if missing is not None:
            raise missing from None
        raise ApiFailure(_message(error)) from None
    except Unreachable as error:
        raise ClusterUnavailable(_message(error)) from None
    except ApiError as error:
        message = _message(error)
        if error.status in (400, 422):
            raise InvalidRequest(message) from None
        if error.status in (401, 403):
            raise Forbidden(message) from None
        raise ApiFailure(f"{error.status}: {message}") from None


def invalid(error: ValidationError, what: str) -> InvalidRequest:
    """A readable InvalidRequest from a pydantic ValidationError."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or what
        lines.append(f"{where}: {item['msg']}")
    return InvalidRequest(f"invalid {what}: " + "; ".join(lines))
