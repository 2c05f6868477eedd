// Causal grouped-query attention, backward pre-pass (FlashAttention-2): per query row
//   delta = sum_d dout * out
// stored next to that row's lse so the two backward kernels read both with one load and stay
// within 8 storage bindings (the WebGPU default limit).
//   out, dout are (B, T, Hq, D) f32, bound as vec4 arrays (D = 4 * D4)
//   lse       is (B, Hq, T) f32 (saved by the forward)
//   ld        is (B, Hq, T) vec2<f32> = (lse, delta), i.e. a (B, Hq, T, 2) f32 buffer
// One thread per (b, t, h) row; dispatch may be 2-D (x * y groups) for many rows.

struct Params {
  T: u32,
  Hq: u32,
  rows: u32,       // B * T * Hq
  row_stride: u32, // threads per grid row: groups_x * WG
}

@group(0) @binding(0) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> ld: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

override WG: u32 = 64;
// head dim / 4
override D4: u32 = 2;

@compute @workgroup_size(WG)
fn attention_bwd_delta(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.y * params.row_stride + gid.x;
  if (row >= params.rows) {
    return;
  }
  let Hq = params.Hq;
  let T = params.T;
  let h = row % Hq;
  let t = (row / Hq) % T;
  let b = row / (Hq * T);
  var acc = vec4<f32>(0.0);
  for (var c = 0u; c < D4; c++) {
    acc = fma(dout[row * D4 + c], out[row * D4 + c], acc);
  }
  let i = (b * Hq + h) * T + t;
  ld[i] = vec2<f32>(lse[i], acc.x + acc.y + acc.z + acc.w);
}
