"""chain(n): n sequential `increment` activity steps, 0 → n (the benchmark
workload, as examples/chain/src/lib.rs in Rust)."""

from dataclasses import dataclass

from cairn import ctx, workflow


@dataclass
class Input:
    n: int


@workflow
async def chain(input: Input) -> int:
    value = 0
    for _ in range(input.n):
        value = await ctx.activity("increment", value)
    return value
