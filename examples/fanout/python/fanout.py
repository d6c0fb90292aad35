"""fanout: squares every number of the input in parallel activities and
collects the results as they finish (as examples/fanout/src/lib.rs in Rust)."""

import asyncio
from dataclasses import dataclass

from cairn import ctx, workflow


@dataclass
class Input:
    numbers: list


@workflow
async def fanout(input: Input) -> dict:
    pending = {ctx.activity("square", n): i for i, n in enumerate(input.numbers)}
    squares = [0] * len(pending)
    completion_order = []
    while pending:
        done, _ = await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)
        # Several may finish in one turn: take them in the order they were started.
        for fut in sorted(done, key=lambda f: pending[f]):
            position = pending.pop(fut)
            squares[position] = fut.result()
            completion_order.append(position)
    return {"squares": squares, "sum": sum(squares), "completion_order": completion_order}
