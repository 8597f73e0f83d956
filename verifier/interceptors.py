"""What hedui's server interceptors share: each wraps a method's handler once, not at every call.

gRPC asks an interceptor for the handler of every call; building the wrapped handler each time would cost every
call a few closures. :class:`WrapsEachMethod` keeps the wrapped handler per method (and per the handler it
wrapped, should the server hand another); a subclass says how it wraps (:meth:`~WrapsEachMethod.wrap`) and which
methods it lets through as they are (:meth:`~WrapsEachMethod.passes`). Used by the call observer
(observability), the access control (access) and the undecodable-body guard (limits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

__all__ = ["Handler", "WrapsEachMethod"]

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic in the stubs only
"""A method's handler, as a gRPC server holds it."""


class WrapsEachMethod(grpc.aio.ServerInterceptor):
    """An interceptor that wraps each method's handler with :meth:`wrap`, once."""

    def __init__(self) -> None:
        """No method seen yet."""
        self._handlers: dict[str, tuple[Handler, Handler]] = {}

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` of ``method`` (``/package.Service/Method``) with this interceptor's concern added."""
        raise NotImplementedError

    def passes(self, method: str) -> bool:
        """Whether ``method`` is served as it is (nothing wrapped)."""
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """The method's wrapped handler (made once per method and handler)."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or self.passes(method):
            return handler
        known = self._handlers.get(method)
        if known is None or known[0] is not handler:
            known = self._handlers[method] = (handler, self.wrap(method, handler))
        return known[1]
