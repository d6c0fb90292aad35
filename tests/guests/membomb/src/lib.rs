//! A workflow that allocates without bound; or, given `{"hold_mb": N}`,
//! one that takes N MiB, keeps them while it waits for the signal `go`,
//! and returns the number of MiB it held.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    hold_mb: Option<usize>,
}

fn membomb(input: Input) -> Result<u64, Failure> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    if let Some(mb) = input.hold_mb {
        for _ in 0..mb {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
        workflow::receive_signal::<u64>("go", None)?;
        return Ok(hoard.iter().map(|h| h.len() as u64).sum::<u64>() >> 20);
    }
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        if hoard.len() == usize::MAX {
            return Ok(0);
        }
    }
}

cairn_sdk::workflow!(membomb);
