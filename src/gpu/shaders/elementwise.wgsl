// Elementwise ops over flat tensors (any shape, row-major; only the element count n matters).
//   ew_add:           a (n) f32, b (n) f32 -> y (n) f32, y = a + b        (residual add)
//   ew_add_inplace:   a (n) f32 += b (n) f32
//   ew_scale:         x (n) f32 -> y (n) f32, y = s * x
//   ew_scale_inplace: x (n) f32 *= s
//   ew_fill:          dst (n) u32 words = bits (the f32 / i32 / u32 value's bit pattern, or two
//                     packed halves for an fp16 tensor, whose n is then its word count)
// One thread per element; the TS op may dispatch a 2-D grid (groups_x * WG threads per grid row)
// when n / WG exceeds the per-dimension workgroup limit.
//
// In-place variants are separate entry points because WebGPU forbids binding one buffer as both
// a read-only and a writable storage binding (or as two writable ones) in the same dispatch.
// Entry points therefore have different binding lists, and the uniform block sits right after
// each one's storage bindings (dispatch() binds it there): params1/2/3 are the same block at
// binding 1, 2 or 3.

struct Params {
  n: u32,
  row_threads: u32, // threads per grid row: groups_x * WG
  s: f32,           // ew_scale*: the factor
  bits: u32,        // ew_fill: the word written
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params3: Params;

@group(0) @binding(0) var<storage, read_write> acc: array<f32>;
@group(0) @binding(1) var<storage, read_write> yy: array<f32>;
@group(0) @binding(2) var<uniform> params2: Params;

@group(0) @binding(0) var<storage, read_write> words: array<u32>;
@group(0) @binding(1) var<uniform> params1: Params;

fn flat(gid: vec3<u32>, p: Params) -> u32 {
  return gid.y * p.row_threads + gid.x;
}

@compute @workgroup_size(WG)
fn ew_add(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat(gid, params3);
  if (i < params3.n) {
    y[i] = a[i] + b[i];
  }
}

@compute @workgroup_size(WG)
fn ew_add_inplace(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat(gid, params2);
  if (i < params2.n) {
    acc[i] = acc[i] + b[i];
  }
}

@compute @workgroup_size(WG)
fn ew_scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat(gid, params2);
  if (i < params2.n) {
    yy[i] = params2.s * a[i];
  }
}

@compute @workgroup_size(WG)
fn ew_scale_inplace(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat(gid, params1);
  if (i < params1.n) {
    acc[i] = params1.s * acc[i];
  }
}

@compute @workgroup_size(WG)
fn ew_fill(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat(gid, params1);
  if (i < params1.n) {
    words[i] = params1.bits;
  }
}
