// DoRA (Liu et al. 2024, as HF PEFT's DoraLinearLayer): a LoRA module whose output is rescaled
// per output feature j by g_j = m_j / ‖W_j + s·(B·A)_j‖ (the norm of row j of the (OUT, IN)
// weight with the update folded in, detached from the graph as in the paper's section 4.3):
//   z = x·Wᵀ + s·(x·Aᵀ)·Bᵀ (the LoRA linear without its bias),  y = g ⊙ z + b
// Shapes: W (OUT, IN) fp16 packed or f32 (W_F16), A (r, IN) f32, B (OUT, r) f32, m and norm (OUT)
// f32, y, z, dy, dz (N, OUT) f32, dm (OUT) f32. s is the LoRA scale.
// Entry points and their bindings (each list numbered from 0, uniform last):
//   dora_row_norm:       W, A, B, norm (rw), params4            norm_j = ‖W_j + s·Σ_r B_jr A_r‖
//   dora_scale_forward:  y (rw), z (rw), m, norm, bias, params5 z = y - b; y = g ⊙ z + b
//   dora_scale_backward: dy, m, norm, dz (rw), params4           dz = g ⊙ dy
//   dora_magnitude_grad: dy, z, norm, dm (rw), params4           dm_j += Σ_n dy_nj z_nj / norm_j
// dora_row_norm never materialises W + s·B·A: one workgroup per row j holds B_j in workgroup
// memory and forms each element of the row on the fly (OUT·IN·r multiply-adds, no (OUT, IN)
// buffer). The others are one thread per element, or per column for dm (a fixed order over n:
// deterministic).

struct Params {
  out_f: u32,
  in_f: u32,
  r: u32,
  n: u32,          // N·OUT for the elementwise kernels; N for dora_magnitude_grad
  scale: f32,
  has_bias: u32,
  row_threads: u32, // threads per grid row of the elementwise kernels: groups_x * WG
  groups_x: u32,   // workgroups per grid row of dora_row_norm
}

override WG: u32 = 64;
const MAX_RANK: u32 = 256u;

// dora_row_norm
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> Bm: array<f32>;
@group(0) @binding(3) var<storage, read_write> norm_out: array<f32>;
@group(0) @binding(4) var<uniform> params4: Params;
// the fp16_weights fragment's vec4 view; dora_row_norm does not use it (so it is not bound)
@group(0) @binding(9) var<storage, read> W2: array<vec2<u32>>;

// dora_scale_forward
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(2) var<storage, read> m_f: array<f32>;
@group(0) @binding(3) var<storage, read> norm_f: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> params5: Params;

// dora_scale_backward
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> m_b: array<f32>;
@group(0) @binding(2) var<storage, read> norm_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

// dora_magnitude_grad
@group(0) @binding(1) var<storage, read> z_in: array<f32>;
@group(0) @binding(2) var<storage, read> norm_g: array<f32>;
@group(0) @binding(3) var<storage, read_write> dm: array<f32>;

var<workgroup> b_row: array<f32, MAX_RANK>;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn dora_row_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params4;
  let j = wid.y * p.groups_x + wid.x;
  let t = lid.x;
  // every thread of the workgroup reaches the barriers: rows past OUT compute nothing at the end
  let live = j < p.out_f;
  if (live) {
    for (var q = t; q < p.r; q += WG) {
      b_row[q] = Bm[j * p.r + q];
    }
  }
  workgroupBarrier();
  var acc = 0.0;
  if (live) {
    let row = j * p.in_f;
    for (var k = t; k < p.in_f; k += WG) {
      var lora = 0.0;
      for (var q = 0u; q < p.r; q++) {
        lora += b_row[q] * A[q * p.in_f + k];
      }
      let w = w_at(row + k) + p.scale * lora;
      acc += w * w;
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  // tree sum (WG is a power of two)
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (t < half) {
      partial[t] += partial[t + half];
    }
    workgroupBarrier();
  }
  if (t == 0u && live) {
    norm_out[j] = sqrt(partial[0]);
  }
}

@compute @workgroup_size(WG)
fn dora_scale_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params5;
  let i = gid.y * p.row_threads + gid.x;
  if (i >= p.n) {
    return;
  }
  let j = i % p.out_f;
  let g = m_f[j] / norm_f[j];
  var b = 0.0;
  if (p.has_bias != 0u) {
    b = bias[j];
  }
  let zz = y[i] - b;
  z_out[i] = zz;
  y[i] = g * zz + b;
}

@compute @workgroup_size(WG)
fn dora_scale_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params4;
  let i = gid.y * p.row_threads + gid.x;
  if (i >= p.n) {
    return;
  }
  let j = i % p.out_f;
  dz[i] = (m_b[j] / norm_b[j]) * dy[i];
}

@compute @workgroup_size(WG)
fn dora_magnitude_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params4;
  let j = gid.y * p.row_threads + gid.x;
  if (j >= p.out_f) {
    return;
  }
  var acc = 0.0;
  for (var n = 0u; n < p.n; n++) {
    let e = n * p.out_f + j;
    acc += dy[e] * z_in[e];
  }
  dm[j] += acc / norm_g[j];
}
