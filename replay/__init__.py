"""Replay: read an interval of history back from ClickHouse into the input topics."""
