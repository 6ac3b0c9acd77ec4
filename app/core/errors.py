"""Domain errors. Only ``web/errors.py`` maps them to HTTP status codes.

NewsmonError
├── InvalidInput          bad value from a user or a file (400/422)
│   ├── BlockedURL        scheme or SSRF guard refused a URL (400)
│   └── TooLarge          a request body over its route's cap (413)
├── NotFound              no such object (404)
├── Conflict              the object exists / state forbids it (409)
├── Unauthenticated       no or bad credentials (401)
├── PermissionDenied      authenticated, but the role may not (403)
├── RateLimited           too many attempts; ``retry_after`` seconds (429)
└── StorageBusy           the database stayed locked past the timeout (503)
    └── StorageUnavailable  the database cannot be reached at all (503)
"""

from __future__ import annotations


class NewsmonError(Exception):
    """Base of every error newsmon raises on purpose."""


class InvalidInput(NewsmonError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BlockedURL(InvalidInput):
    """A URL was refused before any byte was sent; the message names the rule."""


class TooLarge(InvalidInput):
    """An upload went past its cap; raised while the body is read, before it is used."""


class NotFound(NewsmonError):
    pass


class Conflict(NewsmonError):
    pass


class Unauthenticated(NewsmonError):
    pass


class PermissionDenied(NewsmonError):
    pass


class RateLimited(NewsmonError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageBusy(NewsmonError):
    pass


class StorageUnavailable(StorageBusy):
    """The database server is unreachable (down, restarting, network cut)."""
