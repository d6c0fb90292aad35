// chain(n): n sequential `increment` activity steps, 0 → n (the benchmark
// workload, as examples/chain/src/lib.rs in Rust).

import { ctx, workflow } from "@cairn/sdk";

interface Input {
  n: number;
}

export default workflow(async (input: Input): Promise<number> => {
  let value = 0;
  for (let i = 0; i < input.n; i++) {
    value = await ctx.activity<number>("increment", value);
  }
  return value;
});
