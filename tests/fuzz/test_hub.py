"""The cockpit's Kafka input (``KafkaFeed._handle`` into ``AlertHub``): every message taken
or counted malformed, deep ones refused, and whatever was taken, a new client still gets
its snapshot."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .strategies import Deep
from .targets.alerts import FIXED
from .targets.hub import HubCase, Spoil, check_hub, hub_cases

pytestmark = pytest.mark.fuzz


@fuzzed(1.0)
@given(case=hub_cases())
@example(case=HubCase((FIXED,), (), (Spoil("alerts", 0, "explanation", Deep(252)),)))
def test_every_message_is_taken_or_counted_and_clients_still_get_a_snapshot(
        case: HubCase) -> None:
    check_hub(case).assert_clean()
