"""A deterministic asyncio event loop driven by the host's `wait-any`.

Everything a workflow awaits from the outside is a host handle (activity,
child, timer, signal wait). The loop runs ready callbacks until none is
left; then it asks the host for the first of the pending handles to end
(`wait-any`, journaled), resolves that handle's future and goes on. There
is no real clock and no I/O: `loop.call_later` (so `asyncio.sleep`,
`asyncio.wait_for`, `asyncio.wait(timeout=...)`) starts a durable timer.
"""

import asyncio
import collections
import contextvars

from wit_world.imports import context as _host

from ._errors import Failure, deadlock


class _HostTimer:
    """What `call_later` returns: cancelling it cancels the durable timer."""

    def __init__(self, loop, handle, when):
        self._loop = loop
        self._handle = handle
        self._when = when
        self._cancelled = False

    def cancel(self):
        if not self._cancelled:
            self._cancelled = True
            self._loop._forget(self._handle)

    def cancelled(self):
        return self._cancelled

    def when(self):
        return self._when


class _HostFuture(asyncio.Future):
    """A future of a host handle: `cancel()` gives the handle up right away
    (a done callback would run only on the loop's next turn)."""

    def __init__(self, loop, handle):
        super().__init__(loop=loop)
        self._cairn_loop = loop
        self._cairn_handle = handle

    def cancel(self, msg=None):
        if not self.done():
            self._cairn_loop._forget(self._cairn_handle)
        return super().cancel(msg)


class WorkflowLoop(asyncio.AbstractEventLoop):
    """The event loop of one workflow run."""

    def __init__(self):
        self._ready = collections.deque()
        # Pending host handles, in the order they were started: handle -> callback(completion).
        self._waiting = {}
        self._running = False
        self._closed = False
        self._clock_ms = None

    # -- the host's handles ------------------------------------------------

    def _watch(self, handle, on_done):
        self._waiting[handle] = on_done

    def _forget(self, handle):
        """Gives up a handle that has not ended (journaled as `cancel`)."""
        if self._waiting.pop(handle, None) is not None:
            _host.cancel(handle)

    def host_future(self, handle, decode):
        """A future resolved by `decode(completion)` when `handle` ends;
        cancelling the future cancels the handle (at once, journaled where
        the code cancels it)."""
        fut = _HostFuture(self, handle)

        def on_done(completion):
            if fut.done():
                return
            try:
                fut.set_result(decode(completion))
            except BaseException as e:  # a Failure, or a payload that does not decode
                fut.set_exception(e)

        self._watch(handle, on_done)
        return fut

    # -- running -------------------------------------------------------------

    def run_until_complete(self, future):
        task = asyncio.ensure_future(future, loop=self)
        self._running = True
        asyncio.events._set_running_loop(self)
        try:
            while not task.done():
                while self._ready:
                    handle = self._ready.popleft()
                    if not handle._cancelled:
                        handle._run()
                    if task.done():
                        break
                if task.done():
                    break
                if not self._waiting:
                    raise deadlock()
                handles = list(self._waiting)
                index, completion = _host.wait_any(handles)
                on_done = self._waiting.pop(handles[index])
                on_done(completion)
        finally:
            self._running = False
            asyncio.events._set_running_loop(None)
        return task.result()

    def run_forever(self):
        raise RuntimeError("a workflow's loop only runs its workflow")

    def is_running(self):
        return self._running

    def is_closed(self):
        return self._closed

    def close(self):
        self._closed = True

    def stop(self):
        pass

    async def shutdown_asyncgens(self):
        pass

    async def shutdown_default_executor(self, timeout=None):
        pass

    # -- scheduling ----------------------------------------------------------

    def call_soon(self, callback, *args, context=None):
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(self, callback, *args, context=None):
        return self.call_soon(callback, *args, context=context)

    def time(self):
        """Seconds, from the journaled clock."""
        return _host.now() / 1000.0

    def call_later(self, delay, callback, *args, context=None):
        ms = max(0, int(round(delay * 1000)))
        handle = _host.start_timer(ms)
        ctx = context if context is not None else contextvars.copy_context()
        timer = _HostTimer(self, handle, None)

        def fire(_completion):
            if not timer.cancelled():
                self.call_soon(callback, *args, context=ctx)

        self._watch(handle, fire)
        return timer

    def call_at(self, when, callback, *args, context=None):
        return self.call_later(when - self.time(), callback, *args, context=context)

    def create_future(self):
        return asyncio.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self):
        return False

    def set_debug(self, enabled):
        pass

    def get_exception_handler(self):
        return None

    def set_exception_handler(self, handler):
        pass

    def default_exception_handler(self, context):
        self.call_exception_handler(context)

    def call_exception_handler(self, context):
        message = context.get("message", "unhandled error in the workflow's event loop")
        exc = context.get("exception")
        if exc is not None:
            message = f"{message}: {exc!r}"
        _host.log(_level_warn(), message)

    def get_task_factory(self):
        return None

    def set_task_factory(self, factory):
        raise Failure("sdk-misuse", "a workflow's event loop has no task factory")

    # Nothing below exists inside a workflow: no threads, files or network.
    def _refuse(self, *args, **kwargs):
        raise Failure(
            "sdk-misuse",
            "workflows cannot do I/O, threads or subprocesses; call an activity for side effects",
        )

    run_in_executor = _refuse
    getaddrinfo = _refuse
    create_connection = _refuse
    create_server = _refuse
    subprocess_exec = _refuse
    subprocess_shell = _refuse
    add_reader = _refuse
    add_writer = _refuse
    add_signal_handler = _refuse


def _level_warn():
    from wit_world.imports.types import LogLevel

    return LogLevel.WARN
