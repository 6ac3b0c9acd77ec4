"""The writer benchmark's SQLite meter (bench/bench_writer.py): the share of the writer's
CPU it reports as SQLite's own must come from SQLAlchemy's real connections, and the
benchmark must leave the driver as it found it."""

from __future__ import annotations

import sqlite3
import sqlite3.dbapi2 as dbapi
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.bench_writer import SQLiteMeter


def test_the_meter_times_sqlalchemys_statements_and_restores_the_driver(tmp_path: Path) -> None:
    connect = dbapi.connect
    meter = SQLiteMeter()
    with meter.installed():
        engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
            # A statement that keeps SQLite busy for a measurable while.
            conn.execute(
                text(
                    "INSERT INTO t WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL"
                    " SELECT n + 1 FROM c WHERE n < 200000) SELECT n FROM c"
                )
            )
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 200_000
        engine.dispose()
    assert meter.seconds > 0.01
    assert dbapi.connect is connect
    # Connections opened afterwards are the driver's own again.
    plain = dbapi.connect(":memory:")
    assert type(plain) is sqlite3.Connection
    plain.close()
