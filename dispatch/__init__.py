"""Coordinated dispatch: road graph, unit board, run cards, recommendations, coverage, KPIs.

Pure logic like :mod:`detectors` and :mod:`alerting`: no I/O, no clock (``now`` is given),
no Faust, Kafka, ClickHouse or websockets. The worker's shell is ``streams/dispatch_agent``;
the files (fleet, run cards, roads) are read by ``city/``.

Modules, in the order data flows through them:

* ``graph``, ``roads``: the road graph and drive times (scipy.sparse.csgraph);
* ``units``: the unit registry (capabilities, kinds, homes) from the fleet configuration;
* ``status``: APCO base statuses mapped from each stream's own; ``fleet``: every unit's
  live state;
* ``traffic``: live detector speeds and accidents per edge; ``eta``: time-of-day baseline,
  edge speeds and ETAs of all units in one search;
* ``runcards``, ``incident_type``: response plans and which one an incident needs;
  ``incidents``: what the board knows of incidents and calls;
* ``recommend``: one pass that fills a card's slots; ``coverage``: district coverage and
  move-ups; ``planner``: a package = card + ETAs + recommendation + coverage;
* ``greenwave``: signal pre-emption along priority routes;
* ``actions``, ``decisions``: the dispatcher's commands, checked and applied;
* ``timers`` live in ``config`` (rules) and ``board`` (the tick); ``records``: the one
  record schema; ``board``: the Board the worker runs;
* ``kpis``: response-time KPI definitions.
"""
