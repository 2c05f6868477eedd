// Reads of a quantized base weight W (N, K) for matmul_quant*.wgsl: the layouts of src/util/quant.ts.
// The shader binds the weight's one buffer as `Wq: array<u32>` (codes, then meta at
// params.meta_offset) and declares params with group (elements per scale), groups (scales per
// row), row_words (code words per row) and meta_offset.
//   q8 (Q4 false): byte k & 3 of word row·row_words + k/4 is the int8 code; w = scale · q
//   q4 (Q4 true):  32-element blocks of 4 words; byte j (0..15) holds element j in its low nibble
//                  and j + 16 in its high nibble; w = scale · q + offset, (scale, offset) a pair
// scale · q is exact for the fp16-derived scales, so fma or not, every value equals the reference's.

// A constant per pipeline: q4 (true) or q8 (false).
override Q4: bool = false;

// The dequantized weight (n, k); n < N and k < K.
fn wq_at(n: u32, k: u32) -> f32 {
  let g = n * params.groups + k / params.group;
  if (Q4) {
    let b = k & 31u;
    let j = b & 15u;
    let word = Wq[n * params.row_words + (k >> 5u) * 4u + (j >> 2u)];
    let q = (word >> ((j & 3u) * 8u + select(0u, 4u, b >= 16u))) & 15u;
    let scale = bitcast<f32>(Wq[params.meta_offset + 2u * g]);
    let offset = bitcast<f32>(Wq[params.meta_offset + 2u * g + 1u]);
    return scale * f32(q) + offset;
  }
  let word = Wq[n * params.row_words + (k >> 2u)];
  let q = extractBits(bitcast<i32>(word), (k & 3u) * 8u, 8u);
  return bitcast<f32>(Wq[params.meta_offset + g]) * f32(q);
}
