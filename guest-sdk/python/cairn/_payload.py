"""Payloads: UTF-8 JSON without NaN or infinities; dataclasses and pydantic
models in and out."""

import dataclasses
import json

from ._errors import Failure


def dumps(value):
    """JSON text of a value (dataclasses and pydantic models included)."""
    try:
        return json.dumps(_plain(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise Failure("invalid-payload", f"not JSON-serialisable: {e}") from None


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def loads(text, into=None):
    """The value of JSON `text`, as `into` (a dataclass, a pydantic model or
    anything else left as decoded) when given."""
    value = json.loads(text)
    if into is None or into is type(None):
        return value
    if dataclasses.is_dataclass(into):
        try:
            return into(**value)
        except TypeError as e:
            raise Failure("invalid-payload", f"does not match {into.__name__}: {e}") from None
    if hasattr(into, "model_validate"):
        return into.model_validate(value)
    return value
