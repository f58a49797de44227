"""The dispatch board in the worker, next to the alerting engine (:mod:`streams.alerting_agent`).

The board (:class:`dispatch.board.Board`, pure) is fed by the alerting stage's agents
(:mod:`streams.dispatch_intake` routes their records) and ticked on the alerting timer; it
is checkpointed with the engine, in the engine's file, by one atomic save
(:class:`streams.alerting_agent.EngineStore`), so the board and the engine always restore
to the same point of their inputs. Its records go to the ``dispatch`` topic (sunk into
ClickHouse ``dispatch_log`` by the worker's sink agent), and ``preemption_request`` records
to ``signal_requests`` too, through the alerting stage's :class:`~streams.flush.FlushBuffer`:
an input is acked only after the records it caused are on the broker and the state that
includes them is saved. The board is deterministic (same inputs in the same order, same
records and ids), so a replay after a crash re-sends the same records, which the sink's
ReplacingMergeTree and the cockpit collapse.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Awaitable, Callable, Sequence

import faust

from alerting.engine import Engine
from city.profile import CityProfile
from citycc.settings import Settings
from schemas.topics import TOPICS
from streams.dispatch_intake import Board, BoardInputs, BoardOut
from streams.flush import SendFn, send_now
from streams.outputs import board_records

log = logging.getLogger(__name__)
Send = Callable[[SendFn], Awaitable[None]]


def build_board(settings: Settings, profile: CityProfile) -> Any:
    """The city's board: its unit registry, run cards and road graph (None: the city has
    no road graph, and the board ranks by straight line with a detour factor, and says
    so). Raises when the city's dispatch configuration cannot be used: a worker must not
    run a board it cannot explain."""
    from city.dispatch_config import load_runcards, registry_for
    from dispatch.board import Board as DispatchBoard
    registry = registry_for(profile, settings.dispatch_scale)
    runcards = load_runcards(profile.name)
    return DispatchBoard(profile, _graph(profile), registry, runcards)


def _graph(profile: CityProfile) -> Any:
    from city.profile import load_roads
    roads = load_roads(profile)
    if roads is None:
        log.warning("dispatch: city %s has no road graph; packages rank by straight line",
                    profile.name_en)
        return None
    from dispatch.roads import parse_roads
    return parse_roads(roads)


class DispatchStage(BoardInputs):
    """The board, its topics and its share of the alerting stage's work (its inputs:
    :class:`~streams.dispatch_intake.BoardInputs`, which replay runs too)."""

    def __init__(self, app: faust.App, settings: Settings, board: Board, engine: Engine,
                 actions: Sequence[str]) -> None:
        super().__init__(board, engine, actions)
        self.topics = {name: app.topic(settings.topic(name), value_type=bytes,
                                       partitions=TOPICS[name].partitions)
                       for name in ("dispatch", "signal_requests", "command_results")}
        self.published = 0

    # -- state ---------------------------------------------------------------------------
    def snapshot(self) -> Any:
        return self.board.snapshot()  # type: ignore[attr-defined]

    def restore(self, state: Any) -> None:
        self.board.restore(state)  # type: ignore[attr-defined]

    # -- output --------------------------------------------------------------------------
    async def publish(self, made: BoardOut, send: Send) -> None:
        """The records (``dispatch``; pre-emption requests also ``signal_requests``), then
        the answers to dispatch commands (``command_results``), through ``send`` (a
        buffer's, or :func:`~streams.flush.send_now`: then all are started in order and
        waited for together, not one broker round trip each: a tick may mark hundreds of
        units stale at once)."""
        starts: list[SendFn] = [partial(self.topics[topic].send, key=key, value=value)
                                for topic, key, value, _ in board_records(made)]
        if send is send_now:
            await asyncio.gather(*[await start() for start in starts])
        else:
            for start in starts:
                await send(start)
        self.published += len(made.records)


def install_dispatch(app: faust.App, settings: Settings, profile: CityProfile,
                     engine: Engine) -> DispatchStage | None:
    """The dispatch stage for the alerting stage to run (None: dispatch is off)."""
    if not settings.dispatch_enabled:
        log.info("dispatch: off (CITYCC_DISPATCH_ENABLED=0)")
        return None
    from dispatch.actions import ACTIONS
    return DispatchStage(app, settings, build_board(settings, profile), engine, tuple(ACTIONS))
