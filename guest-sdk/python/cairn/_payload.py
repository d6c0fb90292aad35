"""Payloads: UTF-8 JSON without NaN or infinities; dataclasses and pydantic
models in and out."""

import dataclasses
import json

from ._errors import Failure


def dumps(value):
    """JSON text of a value (dataclasses and pydantic models included)."""
    try:
        return json.dumps(_plain(value), allow_nan=False, separators=(",", ":"), default=_refuse)
    except (TypeError, ValueError) as e:
        raise Failure("invalid-payload", f"not JSON-serialisable: {e}") from None


def _refuse(value):
    if hasattr(value, "__await__"):
        raise TypeError(f"a {type(value).__name__} is not JSON: a forgotten await?")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


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
