"""The one root error of ``schemas``: bad input, with the field and the reason."""

from __future__ import annotations


class ValidationError(ValueError):
    """An event or message that cannot be accepted.

    ``code`` is a stable machine-readable reason (it is stored with every dead letter and
    can be counted); ``field`` names the offending field ("" for the whole message);
    ``reason`` says in words what was wrong.
    """

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(f"{field or '<message>'}: {reason} [{code}]")
        self.code = code
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.code, self.field, self.reason))


# Stable error codes (documented in the README's wire format section).
MALFORMED_JSON = "malformed_json"
NOT_OBJECT = "not_object"
TOO_LARGE = "too_large"
BATCH_TOO_LARGE = "batch_too_large"
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_VALUE = "unknown_value"
BAD_UNIT = "bad_unit"
BAD_TIME = "bad_time"
TOO_LATE = "too_late"
IN_FUTURE = "in_future"
OUTSIDE_CITY = "outside_city"
UNKNOWN_TYPE = "unknown_type"
UNSUPPORTED_VERSION = "unsupported_version"
# JSON from outside (schemas.jsonin) and the characters of ids and names (schemas.chars)
TOO_DEEP = "too_deep"
DUPLICATE_KEY = "duplicate_key"
BAD_CHARACTERS = "bad_characters"
EMPTY = "empty"
