//! A workflow whose answer depends on how the relaxed-SIMD instructions
//! behave where the proposal lets the hardware choose: NaN and
//! out-of-range truncation, min of NaN, a lane mask that is neither all
//! ones nor all zeros, the Q15 overflow, a 7-bit dot product given an
//! 8-bit operand. Cairn runs guests with the deterministic semantics (the
//! non-relaxed counterparts), so every node answers the same; each lane is
//! returned as its bits.

use cairn_sdk::prelude::*;
use core::arch::wasm32::*;

fn lanes32(v: v128) -> Vec<u32> {
    vec![
        u32x4_extract_lane::<0>(v),
        u32x4_extract_lane::<1>(v),
        u32x4_extract_lane::<2>(v),
        u32x4_extract_lane::<3>(v),
    ]
}

fn lanes16(v: v128) -> Vec<u32> {
    vec![
        u32::from(u16x8_extract_lane::<0>(v)),
        u32::from(u16x8_extract_lane::<1>(v)),
        u32::from(u16x8_extract_lane::<2>(v)),
        u32::from(u16x8_extract_lane::<3>(v)),
    ]
}

#[target_feature(enable = "relaxed-simd")]
fn relaxed(input: &[f32; 4]) -> Vec<(&'static str, Vec<u32>)> {
    let floats = f32x4(input[0], input[1], input[2], input[3]);
    let ones = f32x4_splat(1.0);
    let mixed = i32x4(-1, 0, 0x7fff_ffff, i32::MIN);
    let (a, b) = (i32x4_splat(0x1111_1111), i32x4_splat(0x2222_2222));
    let q = i16x8_splat(i16::MIN);
    let (small, high) = (i8x16_splat(1), i8x16_splat(-128));
    vec![
        ("trunc", lanes32(i32x4_relaxed_trunc_f32x4(floats))),
        ("min", lanes32(f32x4_relaxed_min(floats, ones))),
        ("max", lanes32(f32x4_relaxed_max(floats, ones))),
        ("laneselect", lanes32(i32x4_relaxed_laneselect(a, b, mixed))),
        ("q15mulr", lanes16(i16x8_relaxed_q15mulr(q, q))),
        ("dot", lanes16(i16x8_relaxed_dot_i8x16_i7x16(small, high))),
    ]
}

fn run(input: serde::de::IgnoredAny) -> Result<std::collections::BTreeMap<&'static str, Vec<u32>>, Failure> {
    let _ = input;
    // NaN, beyond i32 both ways, an ordinary value.
    let values = [f32::NAN, 3.0e9, -3.0e9, 1.5];
    Ok(relaxed(&values).into_iter().collect())
}

cairn_sdk::workflow!(run);
