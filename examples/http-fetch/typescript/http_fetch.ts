// Activity `fetch`: an HTTP request to an allow-listed host with `fetch()`
// (as examples/http-fetch/src/lib.rs in Rust). The request carries the
// call's idempotency key in `Idempotency-Key` and the attempt's number in
// `Cairn-Attempt`; a 5xx answer is retried.

import { activity, attempt, Failure, idempotencyKey } from "@cairn/sdk/activity";

interface Request {
  url: string;
  method?: string;
  body?: string;
}

activity("fetch", async (req: Request) => {
  const response = await fetch(req.url, {
    method: req.method ?? "GET",
    headers: { "idempotency-key": idempotencyKey(), "cairn-attempt": String(attempt()) },
    body: req.body,
  });
  if (response.status >= 500) {
    throw new Failure("server-error", `${req.url} answered ${response.status}`, { retryable: true });
  }
  return { status: response.status, body: await response.text() };
});
