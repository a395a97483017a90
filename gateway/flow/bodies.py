"""Flow request bodies: one JSON value, parsed once, and no deeper than the gateway can write.

orjson parses up to 1024 levels but writes only 254, and `repr()` gives up near 1000: a body
nested between the two got as far as the answer (echoing `culture` or `token`) or an error
message and failed there with a 500. So the parsed value is written once more, straight away:
`orjson.dumps` is the depth check (measured with timeit on the shared 2-core machine, under
load: 1.0 us for the quote example's 439-byte request, whose parsing takes 4 us; 81 us for a
34 KB ObjectDataRequest of 60 objects, whose parsing takes 440 us), and whatever passes it can be
echoed, logged and translated without a RecursionError.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from gateway.errors import BadRequest

NESTING_MAX: Final = 254  # orjson's limit for writing JSON; fixed, so not a setting


def parse_json(body: bytes, what: str) -> Any:
    """The JSON value of a non-empty request body; 400 when malformed or nested too deep."""
    if not body.strip():
        raise BadRequest(f"request body is empty; expected a Flow {what} (JSON object)")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed JSON: {error}", code="malformed_json") from None
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise BadRequest(
            f"the {what} nests deeper than {NESTING_MAX} levels", code="too_deep"
        ) from None
    return value
