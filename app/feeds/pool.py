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
"""

from __future__ import annotations

from typing import Any

import httpcore
from httpcore._async.interfaces import AsyncConnectionInterface

SUPPORTED = ("1.0.",)  # httpcore versions whose pool internals this was checked against


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """``AsyncConnectionPool`` whose request assignment is linear in its connections."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        connections = self._connections
        keepalive = self._max_keepalive_connections

        # Closed, expired and surplus idle connections leave the pool (httpcore's own
        # surplus test compares the number of connections, idle or not, with the
        # keep-alive limit: kept as it is).
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired():  # noqa: SIM114 - httpcore's branches, kept apart
                connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle() and len(connections) > keepalive:
                connections.remove(connection)
                closing.append(connection)

        # Queued requests, in order: the first connection that can take the request,
        # else a new one if there is room, else a new one in place of the first idle.
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            for connection in connections:
                if connection.can_handle_request(origin) and connection.is_available():
                    pool_request.assign_to_connection(connection)
                    break
            else:
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


def supported(version: str = httpcore.__version__) -> bool:
    return version.startswith(SUPPORTED)


def connection_pool(**options: Any) -> httpcore.AsyncConnectionPool:
    """A pool with ``options`` (``httpcore.AsyncConnectionPool``'s): the linear one where
    this httpcore is one it was checked against, httpcore's own otherwise."""
    if supported():
        return LinearConnectionPool(**options)
    return httpcore.AsyncConnectionPool(**options)
