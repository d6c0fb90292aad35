"""`@activity`: registers the functions an activity component serves, and
the component's exports that list and invoke them. Activities may have side
effects; the host retries a failed attempt (raise `Failure(...,
retryable=False)` to stop the retries)."""

import inspect
import traceback
import typing

from componentize_py_types import Err
from wit_world.imports import activity_context as _host

from ._errors import Failure
from ._payload import dumps, loads

_registered = {}


def activity(fn=None, *, name=None):
    """Registers `def fn(input)` as the activity `name` (default: the
    function's name). The JSON input is decoded into the parameter's
    annotated type; the return value is encoded as JSON."""

    def register(f):
        key = name or f.__name__
        if inspect.iscoroutinefunction(f):
            raise TypeError("activities are plain `def` functions in this SDK version")
        if key in _registered:
            raise TypeError(f"activity {key!r} is registered twice")
        _registered[key] = f
        return f

    return register(fn) if fn is not None else register


def idempotency_key():
    """The same on every attempt of this call, also after recovery: pass it
    to external systems to make the side effect idempotent."""
    return _host.idempotency_key()


def attempt():
    """This attempt's number, from 1."""
    return _host.attempt()


def activities():
    """The `activities` export: the registered names."""
    return list(_registered)


def invoke(name, input_json):
    """The `invoke` export: one attempt of activity `name`."""
    fn = _registered.get(name)
    if fn is None:
        raise Err(Failure("unknown-activity", f"this component serves no activity {name!r}")._to_wit())
    params = list(inspect.signature(fn).parameters.values())
    try:
        if params:
            into = typing.get_type_hints(fn).get(params[0].name)
            output = fn(loads(input_json, into))
        else:
            output = fn()
        return dumps(output)
    except Failure as f:
        raise Err(f._to_wit()) from None
    except Exception as e:
        tb = traceback.format_exc(limit=20)
        failure = Failure("activity-error", f"{type(e).__name__}: {e}", retryable=True, details={"traceback": tb})
        raise Err(failure._to_wit()) from None
