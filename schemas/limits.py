"""Bounds on the shape of JSON from outside, declared once.

``MAX_DEPTH``: how deeply arrays and objects may nest in any JSON that comes in (an input
message, an operator command, an alert or dispatch record, a cockpit frame). citycc's own
documents are at most about four deep (a batch -> an event -> a field; a command -> its
matchers); a bound far above that but far below the serialisers' own limits (orjson writes
254 levels, Python's ``repr`` and ``json`` recurse about 1000) means a value that passed
the door can always be written, printed and copied again.
"""

from __future__ import annotations

MAX_DEPTH = 16
