"""Persistence: SQLAlchemy Core tables and queries over SQLite or PostgreSQL. Knows nothing of SMTP."""
