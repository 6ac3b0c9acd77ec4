"""Application services: use cases that the command line and the web both offer.

Each service takes the settings and the database (or a session) and combines
stores, feeds and tagging into one action with one audit trail: subscribing
(``subscriptions``), re-tagging stored articles (``retag``), preparing a
database on first start (``setup``). Neither the CLI nor the web repeats the
steps; both call these.
"""
