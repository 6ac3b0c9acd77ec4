"""``newsmon eval``, ``train`` and ``retag``: measure the tagger, fit its learned layer,
re-apply it to stored articles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import Subparsers, open_db
from app.config import Settings


def register(sub: Subparsers) -> None:
    ev = sub.add_parser("eval", help="score the tagger on labelled JSONL files")
    ev.add_argument("file", type=Path, nargs="+")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument(
        "--folds",
        type=int,
        default=None,
        metavar="K",
        help="also K-fold cross-validate the learned layer (weights and thresholds)",
    )
    ev.set_defaults(handler=cmd_eval)

    tr = sub.add_parser("train", help="fit the learned layer on labelled JSONL files")
    tr.add_argument("file", type=Path, nargs="*", help="default: tests/data/labels/*.jsonl")
    tr.add_argument("--folds", type=int, default=5, metavar="K", help="for the thresholds")
    tr.add_argument("--out", type=Path, default=None, help="default: the packaged model.json")
    tr.set_defaults(handler=cmd_train)

    retag = sub.add_parser("retag", help="re-apply the topic and taxonomy to stored articles")
    retag.add_argument("--batch", type=int, default=1000)
    retag.set_defaults(handler=cmd_retag)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from app.tagging.evaluate import run_eval

    return run_eval(args.file, as_json=args.json, folds_k=args.folds)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from app.tagging.evaluate import DEFAULT_FILES, run_train
    from app.tagging.model import DEFAULT_MODEL

    files = args.file or list(DEFAULT_FILES)
    return run_train(files, folds_k=args.folds, out_path=args.out or DEFAULT_MODEL)


def cmd_retag(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.retag import retag_all

    db = open_db(settings, background=True)  # the web's writes go first
    count = retag_all(db, batch=args.batch, progress=sys.stderr.isatty())
    print(f"retagged {count} articles")
    return 0
