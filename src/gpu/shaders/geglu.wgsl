// GeGLU with the tanh GELU (Gemma's MLP, hidden_activation "gelu_pytorch_tanh"):
//   h = gelu_tanh(gate) * up,  gelu_tanh(g) = 0.5·g·(1 + tanh(u)),  u = sqrt(2/pi)·(g + 0.044715·g³)
// all f32. gate, up, h, dh, dgate, dup are (N, F) f32 (only the element count N·F matters).
// Backward, with t = tanh(u):
//   dgate = dh·up·(0.5·(1 + t) + 0.5·g·(1 - t²)·sqrt(2/pi)·(1 + 3·0.044715·g²)),  dup = dh·gelu_tanh(g)
// Entry points and their bindings (each list numbered from 0, uniform last):
//   geglu_forward:  gate, up, h (rw), params3
//   geglu_backward: gate, up, dh, dgate (rw), dup (rw), params5
// (params3/5 are the same block; the number is its binding, right after the storage bindings)
// One thread per element of h; a 2-D grid (groups_x * WG threads per grid row) past 65535 groups.
// The tanh argument is clamped as in gelu.wgsl (tanh(10) is 1 in f32), so no exp overflows.

struct Params {
  n: u32,           // N·F
  row_threads: u32, // threads per grid row: groups_x * WG
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

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;
const U_MAX: f32 = 10.0;

fn inner(v: f32) -> f32 {
  let xc = clamp(v, -100.0, 100.0);
  return clamp(SQRT_2_OVER_PI * (xc + GELU_C * xc * xc * xc), -U_MAX, U_MAX);
}

@compute @workgroup_size(WG)
fn geglu_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params3;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let g = gate[i];
    h[i] = 0.5 * g * (1.0 + tanh(inner(g))) * up[i];
  }
}

@compute @workgroup_size(WG)
fn geglu_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params5;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let g = gate[i];
    let u = inner(g);
    let t = tanh(u);
    // in the clamped region the slope of tanh is below f32 resolution (as gelu.wgsl)
    var dt = 0.0;
    if (abs(u) < U_MAX) {
      dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * g * g);
    }
    let d = dh[i];
    dgate[i] = d * up[i] * (0.5 * (1.0 + t) + 0.5 * g * dt);
    dup[i] = d * 0.5 * g * (1.0 + t);
  }
}
