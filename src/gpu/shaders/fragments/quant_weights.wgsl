// Reads of a quantized base weight W (N, K), dequantized as they are loaded: the layouts of
// src/util/quant.ts. The same functions as fp16_weights.wgsl (w_at, w4_at, w4_vec, w_cols, over
// the flat element e = n·K + k), so the matmul family's kernel bodies (matmul.wgsl, matmul_sg.wgsl,
// matmul_v7*.wgsl, matmul_dyw*.wgsl) read a quantized W unchanged, and every tile load of theirs
// dequantizes. A quantized W is never batched (w_batch is 0).
// The io fragment before this one (matmul_xwt_io.wgsl or matmul_dyw_io.wgsl) binds the weight's
// one buffer as `W: array<u32>` (codes, then the meta) and declares params with N and K, W's rows
// and columns; everything else about the layout follows from them and the two constants:
//   q8 (Q4 false): byte k & 3 of word n·row_words + k/4 is the int8 code; w = scale · q;
//                  row_words = ceil(K/4); scale per GROUP elements of a row (0: one per row)
//   q4 (Q4 true):  32-element blocks of 4 words; byte j (0..15) holds element j in its low nibble
//                  and j + 16 in its high nibble; w = scale · q + offset, (scale, offset) a pair
//                  per block; row_words = ceil(K/32)·4
// The meta (f32 bits) starts at word N·row_words. scale · q is exact for the fp16-derived scales
// (and rounds once for q8's f32 scales), so fma or not, every value equals the reference decoder's.

// q4 (true) or q8 (false); a constant per pipeline.
override Q4: bool = false;
// q8: elements of a row per scale, 0 for one scale per row (int8 per output channel). q4: 32 always.
override GROUP: u32 = 0;

fn wq_row_words() -> u32 {
  if (Q4) {
    return ((params.K + 31u) / 32u) * 4u;
  }
  return (params.K + 3u) / 4u;
}

// Index of the scale (q8) or (scale, offset) pair (q4) of element (n, k) among the meta entries.
fn wq_group(n: u32, k: u32) -> u32 {
  if (Q4) {
    return n * ((params.K + 31u) / 32u) + (k >> 5u);
  }
  if (GROUP == 0u) {
    return n;
  }
  // max: GROUP is a constant, and the compiler refuses a division by a constant 0 even where the
  // branch above makes it dead
  let group = max(GROUP, 1u);
  return n * ((params.K + group - 1u) / group) + k / group;
}

fn wq_meta(i: u32) -> f32 {
  return bitcast<f32>(W[params.N * wq_row_words() + i]);
}

// The dequantized weight (n, k); n < N and k < K.
fn wq_at(n: u32, k: u32) -> f32 {
  let g = wq_group(n, k);
  if (Q4) {
    let b = k & 31u;
    let j = b & 15u;
    let word = W[n * wq_row_words() + (k >> 5u) * 4u + (j >> 2u)];
    let q = (word >> ((j & 3u) * 8u + select(0u, 4u, b >= 16u))) & 15u;
    return wq_meta(2u * g) * f32(q) + wq_meta(2u * g + 1u);
  }
  let word = W[n * wq_row_words() + (k >> 2u)];
  let q = extractBits(bitcast<i32>(word), (k & 3u) * 8u, 8u);
  return wq_meta(g) * f32(q);
}

// Weight at flat element e = n·K + k.
fn w_at(e: u32) -> f32 {
  let n = e / params.K;
  return wq_at(n, e - n * params.K);
}

// Four consecutive weights starting at flat element e (any e; they may span two rows).
fn w4_at(e: u32) -> vec4<f32> {
  return vec4<f32>(w_at(e), w_at(e + 1u), w_at(e + 2u), w_at(e + 3u));
}

// Four consecutive weights starting at element 4q (vec4 kernels: K % 4 == 0, so they lie in one
// row, in one code word and, GROUP being 0, 16 or 32, under one scale): one code word, one scale.
fn w4_vec(q: u32) -> vec4<f32> {
  let e = 4u * q;
  let n = e / params.K;
  let k = e - n * params.K;
  let g = wq_group(n, k);
  if (Q4) {
    let b = k & 31u;
    let word = W[n * wq_row_words() + (k >> 5u) * 4u + ((b & 15u) >> 2u)];
    let s = select(0u, 4u, b >= 16u);
    let q4 = vec4<u32>((word >> s) & 15u, (word >> (8u + s)) & 15u, (word >> (16u + s)) & 15u, (word >> (24u + s)) & 15u);
    return vec4<f32>(wq_meta(2u * g)) * vec4<f32>(q4) + vec4<f32>(wq_meta(2u * g + 1u));
  }
  let word = bitcast<i32>(W[n * wq_row_words() + (k >> 2u)]);
  let q8 = vec4<i32>(extractBits(word, 0u, 8u), extractBits(word, 8u, 8u), extractBits(word, 16u, 8u), extractBits(word, 24u, 8u));
  return vec4<f32>(wq_meta(g)) * vec4<f32>(q8);
}

// W row starting at element r, at four (clamped, valid) column offsets.
fn w_cols(r: u32, c: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(w_at(r + c.x), w_at(r + c.y), w_at(r + c.z), w_at(r + c.w));
}
