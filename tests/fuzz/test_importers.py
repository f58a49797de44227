"""Importers of outside text: the alerting configuration, a city profile, matcher text --
taken, or refused with the importer's named error; never another exception, never a hang."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .targets.importers import (ENDLESS, PROFILE_TREE, RECURSIVE, Document, check_documents,
                                configs, matcher_texts, profiles)
from .verdict import either, refuse

pytestmark = pytest.mark.fuzz


@fuzzed(1.0)
@given(doc=configs())
@example(doc=Document("config", RECURSIVE.encode(), refuse(why="a route that contains itself")))
@example(doc=Document("config", ENDLESS.encode(), refuse("out_of_range",
                                                         why="escalation repeat of 10^400")))
def test_alerting_configurations_are_taken_or_refused_with_config_error(doc: Document) -> None:
    check_documents((doc,)).assert_clean()


@fuzzed(0.5)
@given(doc=profiles())
@example(doc=Document("profile", json.dumps({**PROFILE_TREE, "center": [10 ** 400, 112.9]}
                                            ).encode(), either("a centre of 10^400")))
@example(doc=Document("profile", json.dumps({**PROFILE_TREE, "schools": [
    {**PROFILE_TREE["schools"][0], "radius_m": 10 ** 7}]}).encode(),
    refuse("out_of_range", why="a school 10,000 km wide")))
def test_city_profiles_are_taken_or_refused_with_profile_error(doc: Document) -> None:
    check_documents((doc,)).assert_clean()


@fuzzed(1.0)
@given(doc=matcher_texts())
def test_matcher_text_is_parsed_or_refused_and_renders_back(doc: Document) -> None:
    check_documents((doc,)).assert_clean()
