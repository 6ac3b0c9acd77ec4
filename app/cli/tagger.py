"""``newsmon eval`` and ``newsmon retag``: measure the tagger, re-apply it to stored articles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import Subparsers, open_db
from app.config import Settings


def register(sub: Subparsers) -> None:
    ev = sub.add_parser("eval", help="score the tagger on a labelled JSONL file")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(handler=cmd_eval)

    retag = sub.add_parser("retag", help="re-apply the topic and taxonomy to stored articles")
    retag.add_argument("--batch", type=int, default=1000)
    retag.set_defaults(handler=cmd_retag)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from app.tagging.evaluate import run_eval

    return run_eval(args.file, as_json=args.json)


def cmd_retag(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.retag import retag_all

    db = open_db(settings)
    count = retag_all(db, batch=args.batch, progress=sys.stderr.isatty())
    print(f"retagged {count} articles")
    return 0
