"""The SQL tracking store: SQLite (embedded default) and PostgreSQL."""
