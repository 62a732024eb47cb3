"""Cancel a request's work when its client goes away.

Once the body is read, the next message on the ASGI receive channel is http.disconnect,
which the server sends when the client closes the connection. `unless_disconnected`
runs the work as a task beside a watcher of that channel; when the client leaves first,
the work is cancelled (no further Gemini call or retry starts, the call in flight is
abandoned) and ClientDisconnected is raised, so the route counts the request as
`cancelled`, not as an answer or a fallback.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

CLIENT_CLOSED_REQUEST = 499  # nginx's status for "client closed request"; never received


class ClientDisconnected(Exception):
    pass


async def _disconnected(receive: Callable[[], Awaitable[dict]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(receive: Callable[[], Awaitable[dict]],
                              work: Awaitable[Any]) -> Any:
    """The result of `work`, or ClientDisconnected once it has been cancelled."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server itself cancelled us (shutdown)
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # cancelled, or failed on the way out: nobody is left to tell
        pass
    raise ClientDisconnected()
