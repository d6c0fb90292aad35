"""Activity `fetch`: an HTTP request to an allow-listed host (as
examples/http-fetch/src/lib.rs in Rust). The request carries the call's
idempotency key in `Idempotency-Key` and the attempt's number in
`Cairn-Attempt`; a 5xx answer is retried."""

from dataclasses import dataclass

from cairn import Failure, activity, attempt, http, idempotency_key


@dataclass
class Request:
    url: str
    method: str = "GET"
    body: str | None = None


@activity
def fetch(req: Request) -> dict:
    headers = {"idempotency-key": idempotency_key(), "cairn-attempt": str(attempt())}
    response = http.request(req.method, req.url, headers=headers, body=req.body)
    if response.status >= 500:
        raise Failure("server-error", f"{req.url} answered {response.status}", retryable=True)
    return {"status": response.status, "body": response.text()}
