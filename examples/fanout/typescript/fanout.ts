// fanout: squares every number of the input in parallel activities and
// collects the results as they finish (as examples/fanout/src/lib.rs in Rust).

import { ctx, workflow } from "@cairn/sdk";

interface Input {
  numbers: number[];
}

export default workflow(async (input: Input) => {
  const squares: number[] = new Array(input.numbers.length).fill(0);
  const completion_order: number[] = [];
  // Each step records where its result goes as it finishes.
  await Promise.all(
    input.numbers.map(async (n, position) => {
      squares[position] = await ctx.activity<number>("square", n);
      completion_order.push(position);
    }),
  );
  return { squares, sum: squares.reduce((a, b) => a + b, 0), completion_order };
});
