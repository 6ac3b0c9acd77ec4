"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks``): how to
make a valid value of newsmon's own string formats, so generated "valid" requests
are valid. Without them a cursor would be random text, which the server rightly
refuses as invalid."""

from __future__ import annotations

from datetime import UTC, datetime

import schemathesis
from hypothesis import strategies as st

from app.core.timeline import Cursor

_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_ids = st.integers(min_value=1, max_value=2**31 - 1)


def _cursor(order: str) -> st.SearchStrategy[str]:
    return st.builds(lambda t, i: Cursor(t, i, order).encode(), _times, _ids)


# A timeline cursor continues by published time or by update; the changes feed has
# its own (each refuses the other's, by design).
schemathesis.openapi.format("newsmon-cursor", _cursor("published") | _cursor("updated"))
schemathesis.openapi.format("newsmon-changes-cursor", _cursor("changes"))
