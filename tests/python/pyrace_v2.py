"""The SDK conformance scenarios (`_race.py`), version 2: the fixed code."""

from _race import scenarios
from cairn import workflow


@workflow
async def pyrace_v2(input: dict):
    return await scenarios(input, 2)
