"""The failure a workflow or an activity raises, and the SDK's own errors."""


class Failure(Exception):
    """An error with a stable code: raise it to fail a workflow or an
    activity attempt; catch it around an awaited call (an activity that
    failed after its retries, a cancelled wait: code ``cancelled``)."""

    def __init__(self, code, message, *, retryable=False, details=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details = details

    @property
    def is_cancelled(self):
        """Whether this reports a cancellation of the execution or of the handle."""
        return self.code == "cancelled"

    @classmethod
    def _from_wit(cls, f):
        import json

        details = json.loads(f.details) if f.details is not None else None
        return cls(f.code, f.message, retryable=f.retryable, details=details)

    def _to_wit(self):
        try:
            from wit_world.imports.types import Failure as WitFailure
        except ImportError:  # the activity world names the types interface in full
            from wit_world.imports.cairn_workflow_types import Failure as WitFailure

        from ._payload import dumps

        details = dumps(self.details) if self.details is not None else None
        return WitFailure(code=self.code, message=self.message, retryable=self.retryable, details=details)


def deadlock():
    return Failure(
        "workflow-deadlock",
        "the workflow awaits something no host call can complete (a bare asyncio.Future or Event nobody sets)",
    )


def misuse(message):
    return Failure("sdk-misuse", message)
