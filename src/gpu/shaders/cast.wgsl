// f32 <-> fp16 storage casts.
//   cast_f32_to_f16: src (n) f32 -> dst (ceil(n/2)) u32, two halves per word via pack2x16float
//                    (an odd tail pairs the last value with 0.0)
//   cast_f16_to_f32: src (ceil(n/2)) u32 -> dst (n) f32 via unpack2x16float
// One thread per u32 word; dispatch may be 2-D (x * y groups) for large n.

struct Params {
  n: u32,
  row_words: u32, // words per grid row: groups_x * WG
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 256;

// pack2x16float is indeterminate (per the WGSL spec) when either value lies outside f16's finite
// range, and SwiftShader does return garbage there, so such lanes are encoded by hand exactly as
// f16.ts does: |x| >= 65520 -> ±inf, 65504 < |x| < 65520 -> ±65504, NaN -> quiet NaN. Bit tests,
// not float compares, because compilers may assume floats are never NaN.
const F16_MAX_BITS: u32 = 0x477fe000u; // 65504.0
const F16_INF_FROM: u32 = 0x477ff000u; // 65520.0, the rounding point to inf
const F32_INF_BITS: u32 = 0x7f800000u;

fn special_half(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  let sign = (bits >> 16u) & 0x8000u;
  let mag = bits & 0x7fffffffu;
  if (mag > F32_INF_BITS) {
    return 0x7e00u;
  }
  if (mag >= F16_INF_FROM) {
    return sign | 0x7c00u;
  }
  return sign | 0x7bffu;
}

fn in_half_range(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) <= F16_MAX_BITS;
}

fn pack_halves(a: f32, b: f32) -> u32 {
  let a_ok = in_half_range(a);
  let b_ok = in_half_range(b);
  var word = pack2x16float(vec2<f32>(select(0.0, a, a_ok), select(0.0, b, b_ok)));
  if (!a_ok) {
    word = (word & 0xffff0000u) | special_half(a);
  }
  if (!b_ok) {
    word = (word & 0x0000ffffu) | (special_half(b) << 16u);
  }
  return word;
}

@compute @workgroup_size(WG)
fn cast_f32_to_f16(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.y * params.row_words + gid.x;
  let i = w * 2u;
  if (i >= params.n) {
    return;
  }
  let a = bitcast<f32>(src[i]);
  var b = 0.0;
  if (i + 1u < params.n) {
    b = bitcast<f32>(src[i + 1u]);
  }
  dst[w] = pack_halves(a, b);
}

@compute @workgroup_size(WG)
fn cast_f16_to_f32(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.y * params.row_words + gid.x;
  let i = w * 2u;
  if (i >= params.n) {
    return;
  }
  let pair = unpack2x16float(src[w]);
  dst[i] = bitcast<u32>(pair.x);
  if (i + 1u < params.n) {
    dst[i + 1u] = bitcast<u32>(pair.y);
  }
}
