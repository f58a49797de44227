"""`citycc run` simulates a city of some scale; the worker's and the cockpit's unit registry
must be that city's fleet, or the board recommends units that do not exist (seen on a live
`make run`: the simulator at 0.1, the registry at 1.0)."""

from __future__ import annotations

import pytest

from citycc import apps
from citycc.cli import build_parser, with_arguments
from citycc.settings import SettingsError, load_settings


def _scale_of(argv: list[str]) -> float:
    settings = with_arguments(load_settings({}), build_parser().parse_args(argv))
    return settings.dispatch_scale


@pytest.mark.parametrize("scale", [0.1, 0.5, 2.0])
def test_the_worker_and_cockpit_get_the_simulated_citys_fleet(scale: float) -> None:
    cmds = apps.commands(load_settings({}), scale=scale, seed=7)
    sim = cmds["simulator"]
    assert float(sim[sim.index("--scale") + 1]) == scale
    assert _scale_of(cmds["worker"]) == scale and _scale_of(cmds["cockpit"]) == scale


def test_without_the_argument_the_variable_holds() -> None:
    settings = load_settings({"CITYCC_DISPATCH_SCALE": "0.3"})
    assert with_arguments(settings, build_parser().parse_args(["worker"])).dispatch_scale == 0.3


def test_a_fleet_of_no_size_is_refused() -> None:
    with pytest.raises(SettingsError, match="--dispatch-scale"):
        _scale_of(["cockpit", "--dispatch-scale", "0"])
