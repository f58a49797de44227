"""Every code a dead letter of an input message can carry is in the README's list (issue 13:
``unsupported_version`` was missing from it)."""

from __future__ import annotations

import re

from schemas import errors as E
from streams.pipeline import INTERNAL_ERROR
from unit_helpers import ROOT


def test_every_ingest_code_is_in_the_readme() -> None:
    codes = {v for k, v in vars(E).items() if k.isupper() and isinstance(v, str)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"`code` \(one of\s+`([^`]*)`\)", readme)
    assert listed is not None, "the wire format section lists the codes"
    assert codes | {INTERNAL_ERROR} == set(listed.group(1).split())
