// (IA)³ (Liu et al. 2022, HF PEFT's IA3 Linear): a learned vector l scales the columns of a
// (N, K) activation, either a linear's output (k_proj, v_proj: y = l ⊙ (x·Wᵀ + b)) or a
// feedforward linear's input (down_proj: y = (l ⊙ x)·Wᵀ + b). Both are the same two kernels:
// Shapes: a, b, x, out (N, K) f32 row-major, l and dl (K) f32.
// Entry points and their bindings (uniform last):
//   ia3_scale_v1:    x, l, out (rw), params     out_nj = [acc ? out_nj : 0] + x_nj · l_j
//   ia3_col_dot_v1:  a, b, dl (rw), params      dl_j += Σ_n a_nj · b_nj   (the vector's gradient)
// ia3_scale_v1 is one thread per element; ia3_col_dot_v1 one thread per column j, summing the
// rows in a fixed order (deterministic: exact resume needs bit-identical gradients), adjacent
// threads reading adjacent columns.

struct Params {
  k: u32,           // columns (the vector's length)
  n: u32,           // N·K for ia3_scale_v1; N rows for ia3_col_dot_v1
  accumulate: u32,  // ia3_scale_v1: 1 adds into out
  row_threads: u32, // threads per grid row: groups_x · WG
}

override WG: u32 = 64;

// ia3_scale_v1
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> l: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// ia3_col_dot_v1
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> dl: array<f32>;

@compute @workgroup_size(WG)
fn ia3_scale_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params;
  let i = gid.y * p.row_threads + gid.x;
  if (i >= p.n) {
    return;
  }
  let v = x[i] * l[i % p.k];
  if (p.accumulate != 0u) {
    out[i] = out[i] + v;
  } else {
    out[i] = v;
  }
}

@compute @workgroup_size(WG)
fn ia3_col_dot_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params;
  let j = gid.y * p.row_threads + gid.x;
  if (j >= p.k) {
    return;
  }
  var acc = 0.0;
  for (var r = 0u; r < p.n; r++) {
    let e = r * p.k + j;
    acc += a[e] * b[e];
  }
  dl[j] += acc;
}
