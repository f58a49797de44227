"""Coordinated dispatch: road graph, unit board, run cards, recommendations, coverage, KPIs.

Pure logic like :mod:`detectors` and :mod:`alerting`: no I/O, no clock (``now`` is given),
no Faust, Kafka, ClickHouse or websockets. The worker's shell is ``streams/dispatch_agent``.
"""
