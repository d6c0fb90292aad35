"""Schemathesis hooks for Cairn's API contract test (tests/e2e/contract.rs).

What a JSON schema cannot say is supplied here: a component upload is a real
component of the asked kind (its bytes are not arbitrary), a schedule's cron is
one Cairn parses, and the token the fuzzer itself uses is never revoked.
"""

import os

import schemathesis

WASM = {
    "workflow": open(os.environ["CAIRN_ST_WORKFLOW"], "rb").read(),
    "activity": open(os.environ["CAIRN_ST_ACTIVITY"], "rb").read(),
}
OWN_TOKEN_ID = os.environ.get("CAIRN_ST_TOKEN_ID", "")


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    kind = (ctx.case.query or {}).get("kind", "workflow")
    return WASM["activity"] if kind == "activity" else WASM["workflow"]


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if case.operation.path == "/v1/schedules" and isinstance(body, dict) and isinstance(body.get("cron"), str):
        body["cron"] = "0 0 * * * *"


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    op = context.operation
    if op is not None and op.path == "/v1/tokens/{id}/revoke":
        return (path_parameters or {}).get("id") != OWN_TOKEN_ID
    return True
