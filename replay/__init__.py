"""Replay: a window of history from the warehouse through the worker's own stages, in one
process on an event-time watermark, isolated from live operations (README "Replay").

* :mod:`replay.window` (pure): what to replay (time, area, streams, or an incident);
* :mod:`replay.merge` (pure): the streams merged in event time into per-second batches;
* :mod:`replay.setup`: the configuration a replay runs (the live worker's, or a what-if's);
* :mod:`replay.engine` (pure): :class:`~replay.engine.Replayer`, the pipeline itself;
* :mod:`replay.timeline` (pure): its output records and their digest;
* :mod:`replay.pace` (pure): event time against the wall clock (1x, Nx, max; pause, seek);
* :mod:`replay.session`: a headless session (``citycc replay run``);
* :mod:`replay.cad_import`: CAD history imported from CSV exports.
"""
