"""Persistence with SQLAlchemy 2. Stores receive a session; callers open and commit it."""
