"""Outgoing HTTP for activities, through the host's wasi:http.

    from cairn import activity, http

    @activity
    def fetch(url: str) -> int:
        return http.get(url, headers={"accept": "application/json"}).status

The host lets a request through only to the hosts allow-listed for the
activity (`--allow-http NAME=HOST[:PORT]`); any other fails with the
code `http-denied` (not retried). Connection errors and lost responses
are `http-error` failures, which the host retries. Only activities can
use this module: a workflow reaches the world through `ctx.activity`.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok

try:
    from wit_world.imports import outgoing_handler
    from wit_world.imports import streams
    from wit_world.imports import wasi_http_types as t
except ImportError:
    raise ImportError(
        "sdk-misuse: cairn.http is for activities; a workflow makes HTTP calls through ctx.activity"
    ) from None

from ._errors import Failure

_METHODS = {
    "GET": t.Method_Get,
    "HEAD": t.Method_Head,
    "POST": t.Method_Post,
    "PUT": t.Method_Put,
    "DELETE": t.Method_Delete,
    "PATCH": t.Method_Patch,
    "OPTIONS": t.Method_Options,
}

_CHUNK = 4096


@dataclass
class Response:
    """A received HTTP response, read whole."""

    status: int
    """The status code."""
    headers: dict = field(default_factory=dict)
    """Header names (lower case) to values (several joined with `, `)."""
    body: bytes = b""
    """The whole body."""

    def text(self) -> str:
        """The body as UTF-8 text (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body decoded as JSON."""
        import json

        return json.loads(self.body)


def get(url: str, headers: dict | None = None) -> Response:
    """Sends a GET request and reads the whole response."""
    return request("GET", url, headers=headers)


def post(url: str, body: bytes | str, headers: dict | None = None) -> Response:
    """Sends a POST request with `body` (text is sent as UTF-8)."""
    return request("POST", url, headers=headers, body=body)


def request(method: str, url: str, headers: dict | None = None, body: bytes | str | None = None) -> Response:
    """Sends a request and reads the whole response. Raises `Failure`:
    `invalid-url` / `invalid-header` / `invalid-request` for a request that
    cannot be made, `http-denied` for a host off the allow-list,
    `http-error` (retryable) when the exchange fails."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure("invalid-url", f"not an http(s) URL: {url}")
    data = None if body is None else body.encode() if isinstance(body, str) else bytes(body)
    pairs = [(k, str(v).encode()) for k, v in (headers or {}).items()]
    # A body's length goes ahead of it, as every HTTP client sends it (not
    # chunked: some servers refuse a chunked POST).
    if data is not None and not any(k.lower() == "content-length" for k, _ in pairs):
        pairs.append(("content-length", str(len(data)).encode()))
    try:
        fields = t.Fields.from_list(pairs)
    except Err as e:
        raise Failure("invalid-header", f"a header of the request to {url} is refused: {e.value}") from None
    req = t.OutgoingRequest(fields)
    method = method.upper()
    try:
        req.set_method(_METHODS[method]() if method in _METHODS else t.Method_Other(method))
        req.set_scheme(t.Scheme_Https() if parts.scheme == "https" else t.Scheme_Http())
        req.set_authority(parts.netloc)
        req.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    except Err:
        raise Failure("invalid-request", f"invalid {method} request to {url}") from None
    out = req.body()
    # Sent first, then the body streams into it: written before, a body
    # larger than the host's buffer would wait for a request never sent.
    try:
        pending = outgoing_handler.handle(req, None)
    except Err as e:
        raise _http_failure(e.value, url) from None
    if data is not None:
        with out.write() as stream:
            for i in range(0, len(data), _CHUNK):
                try:
                    stream.blocking_write_and_flush(data[i : i + _CHUNK])
                except Err as e:
                    raise _retryable(f"writing the request body to {url}: {e.value}") from None
    try:
        t.OutgoingBody.finish(out, None)
    except Err as e:
        raise _http_failure(e.value, url) from None
    with pending:
        with pending.subscribe() as ready:
            ready.block()
        outcome = pending.get()
    if not isinstance(outcome, Ok) or not isinstance(outcome.value, Ok):
        if isinstance(outcome, Ok) and isinstance(outcome.value, Err):
            raise _http_failure(outcome.value.value, url)
        raise _retryable(f"the response from {url} was lost")
    with outcome.value.value as response:
        status = response.status()
        with response.headers() as fields:
            names = {}
            for name, value in fields.entries():
                names.setdefault(name.lower(), []).append(value.decode("latin-1"))
        chunks = []
        # The stream is a child of the body: it is released first.
        with response.consume() as incoming, incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(64 * 1024))
                except Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise _retryable(f"reading the response body from {url}: {e.value}") from None
    return Response(status, {k: ", ".join(v) for k, v in names.items()}, b"".join(chunks))


def _retryable(message: str) -> Failure:
    return Failure("http-error", message, retryable=True)


def _http_failure(code, url: str) -> Failure:
    if isinstance(code, t.ErrorCode_HttpRequestDenied):
        return Failure("http-denied", f"{url}: this host is not on the activity's HTTP allow-list")
    return _retryable(f"{url}: {type(code).__name__.removeprefix('ErrorCode_')}")
