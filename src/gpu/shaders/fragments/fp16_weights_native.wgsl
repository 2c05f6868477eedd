// Reads of a base weight matrix W stored as fp16 (Hugging Face nn.Linear layout, row-major), as
// native f16 (the 'shader-f16' feature; fragments/enable_f16.wgsl comes first): the same functions
// as fp16_weights.wgsl, for the same kernels, selected by the op (matmulShaders.ts). Values
// convert exactly to f32; accumulation stays f32 in the kernels. The buffer is the one
// tensor.ts's uploadF16 / uploadHalves write: halves in element order (element 2i in the low half
// of word i, i.e. little-endian halves, exactly array<f16>'s layout), padded to whole words.
// Bound at binding 1, where both io fragments put W (matmul_xwt_io.wgsl, matmul_dyw_io.wgsl), under
// new names; no entry point of such a module uses the packed views W / W2 declared there.
//   Wh:  array<f16>        scalar reads
//   Wh4: array<vec4<f16>>  the vec4 kernels (4-aligned elements)

@group(0) @binding(1) var<storage, read> Wh: array<f16>;
@group(0) @binding(1) var<storage, read> Wh4: array<vec4<f16>>;

// Weight at flat element e (any e).
fn w_at(e: u32) -> f32 {
  return f32(Wh[e]);
}

// Four consecutive weights starting at flat element e (any e; e + 3 must be inside W).
fn w4_at(e: u32) -> vec4<f32> {
  return vec4<f32>(f32(Wh[e]), f32(Wh[e + 1u]), f32(Wh[e + 2u]), f32(Wh[e + 3u]));
}

// Four consecutive weights starting at element 4q (vec4 kernels: 4q is 4-aligned).
fn w4_vec(q: u32) -> vec4<f32> {
  return vec4<f32>(Wh4[q]);
}

// W row starting at element r, at four (clamped, valid) column offsets.
fn w_cols(r: u32, c: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(w_at(r + c.x), w_at(r + c.y), w_at(r + c.z), w_at(r + c.w));
}
