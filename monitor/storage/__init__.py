"""SQLAlchemy 2 schema, engine/session set-up, queries and Alembic migrations."""
