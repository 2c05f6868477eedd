// Reads of a base weight matrix W (Hugging Face nn.Linear layout, row-major), for the matmul
// kernels that take one (matmul*.wgsl, matmul_dyw*.wgsl). The shader binds the buffer twice:
//   W:  array<u32>        fp16 packed two halves per u32 (element 2i in the low half), or f32 bits
//   W2: array<vec2<u32>>  the same buffer as pairs, for the vec4 kernels
// fp16_weights_native.wgsl has the same functions over native f16 (adapters with 'shader-f16').

// W holds fp16 pairs (true) or f32 bits (false); a constant per pipeline, so the test folds away.
override W_F16: bool = true;

// Weight at flat element e (any e).
fn w_at(e: u32) -> f32 {
  if (W_F16) {
    let pair = unpack2x16float(W[e >> 1u]);
    return select(pair.x, pair.y, (e & 1u) == 1u);
  }
  return bitcast<f32>(W[e]);
}

// Four consecutive weights starting at flat element e (any e; e + 3 must be inside W).
fn w4_at(e: u32) -> vec4<f32> {
  if (W_F16) {
    let i = e >> 1u;
    let a = unpack2x16float(W[i]);
    let b = unpack2x16float(W[i + 1u]);
    if ((e & 1u) == 0u) {
      return vec4<f32>(a, b);
    }
    let c = unpack2x16float(W[i + 2u]);
    return vec4<f32>(a.y, b.x, b.y, c.x);
  }
  return vec4<f32>(bitcast<f32>(W[e]), bitcast<f32>(W[e + 1u]), bitcast<f32>(W[e + 2u]), bitcast<f32>(W[e + 3u]));
}

// Four consecutive weights starting at element 4q (vec4 kernels: 4q is 4-aligned).
fn w4_vec(q: u32) -> vec4<f32> {
  if (W_F16) {
    let h = W2[q];
    return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
  }
  return vec4<f32>(bitcast<vec2<f32>>(W2[2u * q]), bitcast<vec2<f32>>(W2[2u * q + 1u]));
}

// W row starting at element r, at four (clamped, valid) column offsets.
fn w_cols(r: u32, c: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(w_at(r + c.x), w_at(r + c.y), w_at(r + c.z), w_at(r + c.w));
}
