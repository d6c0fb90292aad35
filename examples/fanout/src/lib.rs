//! `fanout`: squares every number of the input in parallel activities and
//! collects the results as they finish.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    numbers: Vec<u64>,
}

#[derive(Serialize)]
struct Output {
    squares: Vec<u64>,
    sum: u64,
    completion_order: Vec<usize>,
}

fn fanout(input: Input) -> Result<Output, Failure> {
    let mut pending: Vec<Activity<u64>> = input.numbers.iter().map(|n| workflow::start("square", n)).collect();
    let mut positions: Vec<usize> = (0..pending.len()).collect();
    let mut squares = vec![0; pending.len()];
    let mut completion_order = Vec::new();
    while !pending.is_empty() {
        let (i, result) = workflow::select(&mut pending);
        let position = positions.remove(i);
        squares[position] = result?;
        completion_order.push(position);
    }
    let sum = squares.iter().sum();
    Ok(Output {
        squares,
        sum,
        completion_order,
    })
}

cairn_sdk::workflow!(fanout);
