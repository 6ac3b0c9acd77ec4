"""``python -m app.cli``: the ``newsmon`` command (``serve`` starts its poller this way)."""

from app.cli.main import main

raise SystemExit(main())
