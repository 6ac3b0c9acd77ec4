"""Bundled data: the default feeds and the offline sample feed."""
