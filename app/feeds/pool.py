"""httpcore's connection pool with its bookkeeping in linear time.

``httpcore.AsyncConnectionPool._assign_requests_to_connections`` runs every time a
request enters or leaves the pool. In httpcore 1.0 it is quadratic in the pool's
connections: for each idle connection it builds a list over all of them
(``len([connection.is_idle() for connection in self._connections])``, which is simply
the number of connections), and for each queued request it builds the lists of
available and of idle connections before looking at the first of either. A poll of
one host with 32 connections (``NEWSMON_FETCH_PER_HOST=32``, the peer harness's
1,000-feed scenario) spent ~0.6 ms of the main process's CPU per request there.

``LinearConnectionPool`` makes the same decisions in the same order — the same
connections removed, closed, reused or created for the same requests — with each
count taken once and each search stopped at its first match
(``tests/feeds/test_pool.py`` compares the two on random pool states). It overrides
a private method, so it is used only with the httpcore releases it was checked
against (``SUPPORTED``, and ``pyproject.toml`` keeps httpcore below 1.1); with any
other, ``connection_pool`` returns httpcore's own pool and nothing changes but the cost.

One decision is taken later than httpcore takes it. Whether an idle HTTP/1.1 connection's
server has hung up is a ``poll()`` of its socket (``has_expired``), and httpcore asks it of
every connection in the pool at every assignment: twice per request, for each of up to
``max_connections`` connections (the 1,000-feed scenario: ~150,000 polls for 1,000
requests, ~0.4 s of the main process's CPU). Here the cleanup pass asks only what needs no
system call (closed; a failed connect; the keep-alive time run out), and the socket is
polled only for the connection a request is about to take: one that has hung up is
closed and the request goes on to the next. A hung-up connection no request reaches waits
in the pool until one does, its keep-alive time runs out, or the pool closes; it never
carries a request.
"""

from __future__ import annotations

import time
from typing import Any

import httpcore
from httpcore._async.connection import AsyncHTTPConnection
from httpcore._async.http11 import AsyncHTTP11Connection
from httpcore._async.interfaces import AsyncConnectionInterface

SUPPORTED = ("1.0.",)  # httpcore versions whose pool internals this was checked against


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """``AsyncConnectionPool`` whose request assignment is linear in its connections."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        connections = self._connections
        keepalive = self._max_keepalive_connections
        now = time.monotonic()

        # Closed, expired and surplus idle connections leave the pool (httpcore's own
        # surplus test compares the number of connections, idle or not, with the
        # keep-alive limit: kept as it is). "Expired" without polling sockets: see above.
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif _expired_without_polling(connection, now):  # noqa: SIM114 - httpcore's branches
                connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle() and len(connections) > keepalive:
                connections.remove(connection)
                closing.append(connection)

        # Queued requests, in order: the first connection that can take the request (its
        # socket polled first: one whose server hung up is closed and passed over), else a
        # new one if there is room, else a new one in place of the first idle.
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            chosen = None
            hung_up = []
            for connection in connections:
                if connection.can_handle_request(origin) and connection.is_available():
                    if connection.has_expired():
                        hung_up.append(connection)
                        continue
                    chosen = connection
                    break
            for connection in hung_up:
                connections.remove(connection)
                closing.append(connection)
            if chosen is not None:
                pool_request.assign_to_connection(chosen)
                continue
            if len(connections) < self._max_connections:
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
                continue
            idle = next((c for c in connections if c.is_idle()), None)
            if idle is not None:
                connections.remove(idle)
                closing.append(idle)
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
        return closing


def _expired_without_polling(connection: AsyncConnectionInterface, now: float) -> bool:
    """``connection.has_expired()`` without the socket poll of an idle HTTP/1.1
    connection (a failed connect, or the keep-alive time run out); any other kind of
    connection is asked in full."""
    if type(connection) is AsyncHTTPConnection:
        # httpcore 1.0's private state (SUPPORTED): what its has_expired reads
        inner = connection._connection
        if inner is None:
            return connection._connect_failed
        if type(inner) is AsyncHTTP11Connection:
            expire_at = inner._expire_at
            return expire_at is not None and now > expire_at
    return connection.has_expired()


def supported(version: str = httpcore.__version__) -> bool:
    return version.startswith(SUPPORTED)


def connection_pool(**options: Any) -> httpcore.AsyncConnectionPool:
    """A pool with ``options`` (``httpcore.AsyncConnectionPool``'s): the linear one where
    this httpcore is one it was checked against, httpcore's own otherwise."""
    if supported():
        return LinearConnectionPool(**options)
    return httpcore.AsyncConnectionPool(**options)
