// http_steps: calls the `fetch` activity `n` times in sequence against
// `url?step=i` and returns the bodies (as examples/http-steps/src/lib.rs in Rust).

import { ctx, workflow } from "@cairn/sdk";

interface Input {
  url: string;
  n: number;
}

export default workflow(async (input: Input): Promise<string[]> => {
  const bodies: string[] = [];
  for (let step = 0; step < input.n; step++) {
    const reply = await ctx.activity<{ body: string }>("fetch", { url: `${input.url}?step=${step}` });
    bodies.push(reply.body);
  }
  return bodies;
});
