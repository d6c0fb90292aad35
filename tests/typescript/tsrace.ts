// The SDK conformance scenarios (`_race.ts`), version 1.

import { workflow } from "@cairn/sdk";
import { type Input, scenarios } from "./_race.ts";

export default workflow((input: Input) => scenarios(input, 1));
