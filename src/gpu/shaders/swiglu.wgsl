// SwiGLU (Llama MLP): h = silu(gate) * up, silu(g) = g·sigmoid(g), all f32.
//   gate, up, h, dh, dgate, dup are (N, F) f32 (only the element count N·F matters)
//   gu, dgu are (N, 2F) f32: row n holds gate in columns [0, F) and up in [F, 2F) (the output of
//   one matmul against the stacked [W_gate; W_up] weight)
// Backward, with s = sigmoid(g):  dgate = dh·up·s·(1 + g·(1 - s)),  dup = dh·g·s
// Entry points and their bindings (each list numbered from 0, uniform last):
//   swiglu_forward:        gate, up, h (rw), params3
//   swiglu_backward:       gate, up, dh, dgate (rw), dup (rw), params5
//   swiglu_fused_forward:  gu, h (rw), params2
//   swiglu_fused_backward: gu, dh, dgu (rw), params3
// (params2/3/5 are the same block; the number is its binding, right after the storage bindings)
// One thread per element of h; a 2-D grid (groups_x * WG threads per grid row) past 65535 groups.

struct Params {
  n: u32,           // N·F
  row_threads: u32, // threads per grid row: groups_x * WG
  F: u32,
  _pad: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(3) var<uniform> params3: Params;

@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(4) var<storage, read_write> dup: array<f32>;
@group(0) @binding(5) var<uniform> params5: Params;

@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> h_fused: array<f32>;
@group(0) @binding(2) var<uniform> params2: Params;

@group(0) @binding(1) var<storage, read> dh_fused: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgu: array<f32>;

fn sigmoid(g: f32) -> f32 {
  // exp(-g) overflows to +inf for g < -88 and 1/inf = 0: the right limit, no NaN.
  return 1.0 / (1.0 + exp(-g));
}

// (dgate, dup) for one element
fn swiglu_grad(g: f32, u: f32, d: f32) -> vec2<f32> {
  let s = sigmoid(g);
  return vec2<f32>(d * u * s * (1.0 + g * (1.0 - s)), d * g * s);
}

// Index of gate for flat element i of h in the fused (N, 2F) layout; up is F further on.
fn fused_gate_index(i: u32, F: u32) -> u32 {
  let row = i / F;
  return i + row * F;
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params3;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let g = gate[i];
    h[i] = g * sigmoid(g) * up[i];
  }
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params5;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let d = swiglu_grad(gate[i], up[i], dh[i]);
    dgate[i] = d.x;
    dup[i] = d.y;
  }
}

@compute @workgroup_size(WG)
fn swiglu_fused_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params2;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let j = fused_gate_index(i, p.F);
    let g = gu[j];
    h_fused[i] = g * sigmoid(g) * gu[j + p.F];
  }
}

@compute @workgroup_size(WG)
fn swiglu_fused_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params3;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let j = fused_gate_index(i, p.F);
    let d = swiglu_grad(gu[j], gu[j + p.F], dh_fused[i]);
    dgu[j] = d.x;
    dgu[j + p.F] = d.y;
  }
}
