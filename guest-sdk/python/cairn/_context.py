"""`ctx`: everything a workflow may do outside its own memory, each one a
journaled host call. Awaitables returned here are plain asyncio futures of
the workflow's loop: `await` them, `asyncio.gather` them, race them with
`asyncio.wait(..., return_when=FIRST_COMPLETED)`; cancelling one (the
losers of a race) cancels its timer, signal wait, activity or child."""

import asyncio
import datetime
import uuid as _uuid

from componentize_py_types import Err
from wit_world.imports import context as _host
from wit_world.imports import types as _types

from ._errors import Failure, misuse
from ._payload import dumps, loads


def _loop():
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or not hasattr(loop, "host_future"):
        raise misuse("ctx is used outside a running workflow (call it from the @workflow function)")
    return loop


def _millis(d):
    if isinstance(d, datetime.timedelta):
        return max(0, int(d.total_seconds() * 1000))
    if isinstance(d, (int, float)):
        return max(0, int(d * 1000))
    raise misuse(f"a duration is a timedelta or seconds, not {type(d).__name__}")


def _result(r, into=None):
    """The value of a WIT `result<payload, failure>`, or its Failure raised."""
    if isinstance(r, Err):
        raise Failure._from_wit(r.value)
    return loads(r.value, into)


class RetryPolicy:
    """How an activity is retried; unset fields take the host's defaults."""

    def __init__(self, *, max_attempts=None, initial_interval=None, backoff_coefficient=None, maximum_interval=None):
        self.max_attempts = max_attempts
        self.initial_interval = initial_interval
        self.backoff_coefficient = backoff_coefficient
        self.maximum_interval = maximum_interval

    def _to_wit(self):
        ms = lambda d: None if d is None else _millis(d)  # noqa: E731
        return _types.RetryPolicy(
            max_attempts=self.max_attempts,
            initial_interval_ms=ms(self.initial_interval),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval_ms=ms(self.maximum_interval),
        )


def execution_id():
    """The id of the running execution."""
    return _host.execution_id()


def now():
    """The current time (journaled: the same on every replay), UTC."""
    return datetime.datetime.fromtimestamp(_host.now() / 1000.0, tz=datetime.timezone.utc)


def random():
    """A random 64-bit number (journaled)."""
    return _host.random()


def uuid4():
    """A random UUID (journaled)."""
    return _uuid.UUID(int=(_host.random() << 64) | _host.random(), version=4)


def log(message):
    """A log line attached to the execution."""
    _host.log(_types.LogLevel.INFO, str(message))


def warn(message):
    """A warning attached to the execution."""
    _host.log(_types.LogLevel.WARN, str(message))


def activity(name, input=None, *, result_type=None, retry=None, timeout=None):
    """Starts activity `name` with a JSON `input`; returns an awaitable of
    its result (decoded as `result_type` when given). Raises Failure when it
    failed after its retries."""
    loop = _loop()
    options = None
    if retry is not None or timeout is not None:
        options = _types.ActivityOptions(
            retry=retry._to_wit() if retry is not None else None,
            attempt_timeout_ms=None if timeout is None else _millis(timeout),
        )
    handle = _host.start_activity(name, dumps(input), options)
    return loop.host_future(handle, lambda c: _result(c.value, result_type))


def sleep(duration):
    """A durable timer (timedelta or seconds): survives restarts; a long one
    gives the instance up. Raises Failure `cancelled` when cancelled."""
    loop = _loop()
    handle = _host.start_timer(_millis(duration))

    def fired(c):
        if isinstance(c.value, Err):
            raise Failure._from_wit(c.value.value)

    return loop.host_future(handle, fired)


def signal(name, *, timeout=None, payload_type=None):
    """Waits for the oldest unconsumed signal `name` (buffered, in order);
    the awaitable gives its payload, or None after `timeout`."""
    loop = _loop()
    handle = _host.start_signal_wait(name, None if timeout is None else _millis(timeout))

    def received(c):
        if isinstance(c.value, Err):
            raise Failure._from_wit(c.value.value)
        return None if c.value.value is None else loads(c.value.value, payload_type)

    return loop.host_future(handle, received)


def child(workflow, input=None, *, workflow_id=None, on_parent_close="terminate", result_type=None):
    """Starts a child workflow of a deployment (`name` or `name@version`);
    returns an awaitable of its result. `on_parent_close`: "terminate",
    "request-cancel" or "abandon"."""
    loop = _loop()
    policies = {
        "terminate": _types.ParentClosePolicy.TERMINATE,
        "request-cancel": _types.ParentClosePolicy.REQUEST_CANCEL,
        "abandon": _types.ParentClosePolicy.ABANDON,
    }
    if on_parent_close not in policies:
        raise misuse(f"on_parent_close is one of {', '.join(policies)}, not {on_parent_close!r}")
    options = _types.ChildOptions(workflow_id=workflow_id, parent_close_policy=policies[on_parent_close])
    try:
        handle = _host.start_child(workflow, dumps(input), options)
    except Err as e:
        raise Failure._from_wit(e.value) from None
    return loop.host_future(handle, lambda c: _result(c.value, result_type))


class ContinueAsNew(BaseException):
    """Raised by `continue_as_new`; ends the run (do not catch it)."""


def continue_as_new(input):
    """Ends this run and starts a new run of the same workflow with `input`."""
    _host.continue_as_new(dumps(input))
    raise ContinueAsNew()
