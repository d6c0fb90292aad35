"""`@workflow`: registers the async function a component runs, and the
component's export that runs it on the deterministic loop."""

import inspect
import traceback
import typing

from componentize_py_types import Err

from ._context import ContinueAsNew
from ._errors import Failure
from ._loop import WorkflowLoop
from ._payload import dumps, loads

_registered = None


def workflow(fn):
    """Marks `async def fn(input)` as this component's workflow. The JSON
    input is decoded into the parameter's annotated type (a dataclass, a
    pydantic model, or plain JSON values); the return value is encoded as
    JSON (no NaN). Raise `Failure` to fail the execution."""
    global _registered
    if not inspect.iscoroutinefunction(fn):
        raise TypeError("@workflow needs an `async def` function")
    if _registered is not None:
        raise TypeError(f"a component has one workflow; {_registered.__name__} is already registered")
    _registered = fn
    return fn


def _input_type(fn):
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return None, False
    hints = typing.get_type_hints(fn)
    return hints.get(params[0].name), True


def run(input_json):
    """The `run` export: decodes the input, runs the workflow to its end on
    a fresh loop, encodes the output; a Failure becomes the run's failure."""
    fn = _registered
    if fn is None:
        raise Err(Failure("no-workflow", "the component registers no @workflow function")._to_wit())
    into, takes_input = _input_type(fn)
    loop = WorkflowLoop()
    try:
        args = (loads(input_json, into),) if takes_input else ()
        output = loop.run_until_complete(fn(*args))
        return dumps(output)
    except ContinueAsNew:
        return "null"
    except Failure as f:
        raise Err(f._to_wit()) from None
    except Exception as e:
        tb = traceback.format_exc(limit=20)
        failure = Failure("uncaught-exception", f"{type(e).__name__}: {e}", details={"traceback": tb})
        raise Err(failure._to_wit()) from None
    finally:
        loop.close()
