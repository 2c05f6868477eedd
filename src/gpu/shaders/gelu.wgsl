// GELU, tanh approximation (GPT-2's gelu_new, HF NewGELUActivation), all f32:
//   y = 0.5·x·(1 + tanh(u)),  u = sqrt(2/pi)·(x + 0.044715·x³)
//   dy/dx = 0.5·(1 + t) + 0.5·x·(1 - t²)·sqrt(2/pi)·(1 + 3·0.044715·x²),  t = tanh(u)
//   x, y, dy, dx are (N, F) f32 (only the element count matters)
// Entry points and their bindings (uniform last):
//   gelu_forward:  x, y (rw), params2
//   gelu_backward: x, dy, dx (rw), params3
// One thread per element; a 2-D grid (groups_x * WG threads per grid row) past 65535 groups.

struct Params {
  n: u32,
  row_threads: u32, // threads per grid row: groups_x * WG
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params2: Params;

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params3: Params;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;
// tanh(10) rounds to 1.0 in f32. Clamping keeps tanh away from the exp overflow that makes some
// implementations return NaN for large |u| (and x³ from overflowing to inf).
const U_MAX: f32 = 10.0;

fn inner(v: f32) -> f32 {
  let xc = clamp(v, -100.0, 100.0);
  return clamp(SQRT_2_OVER_PI * (xc + GELU_C * xc * xc * xc), -U_MAX, U_MAX);
}

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params2;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let v = x[i];
    y[i] = 0.5 * v * (1.0 + tanh(inner(v)));
  }
}

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params3;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let v = x[i];
    let u = inner(v);
    let t = tanh(u);
    // In the clamped region the true slope of tanh is below f32 resolution: drop it (and the
    // x·x² factor that could overflow there).
    var dt = 0.0;
    if (abs(u) < U_MAX) {
      dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
    }
    dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * dt);
  }
}
