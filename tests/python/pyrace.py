"""The SDK conformance scenarios (`_race.py`), version 1."""

from _race import scenarios
from cairn import workflow


@workflow
async def pyrace(input: dict):
    return await scenarios(input, 1)
