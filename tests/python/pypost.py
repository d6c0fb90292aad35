"""pypost: one `fetch` activity call that POSTs `body` to `url` and returns
the reply (tests/e2e/examples.rs checks that the request of every
language's fetch carries its body's Content-Length, not a chunked body)."""

from dataclasses import dataclass

from cairn import ctx, workflow


@dataclass
class Input:
    url: str
    body: str


@workflow
async def pypost(input: Input) -> dict:
    return await ctx.activity("fetch", {"url": input.url, "method": "POST", "body": input.body})
