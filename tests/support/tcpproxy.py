"""The benchmarks' cuttable TCP proxy, for the database-outage tests."""

from __future__ import annotations

from bench.tcpproxy import TcpProxy

__all__ = ["TcpProxy"]
