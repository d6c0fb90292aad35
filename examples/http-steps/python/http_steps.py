"""http_steps: calls the `fetch` activity `n` times in sequence against
`url?step=i` and returns the bodies (as examples/http-steps/src/lib.rs in Rust)."""

from dataclasses import dataclass

from cairn import ctx, workflow


@dataclass
class Input:
    url: str
    n: int


@workflow
async def http_steps(input: Input) -> list:
    bodies = []
    for step in range(input.n):
        reply = await ctx.activity("fetch", {"url": f"{input.url}?step={step}"})
        bodies.append(reply["body"])
    return bodies
