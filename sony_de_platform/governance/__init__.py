"""Governance: schemas, Key Stats, and (on Snowflake) access control."""
