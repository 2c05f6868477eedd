// y = alpha · x · Wᵀ (+ bias) (+ y when accumulating) with a quantized W, dequantized as it is loaded
//   x    (M, K) f32, row-major
//   W    (N, K) quantized (fragments/quant_weights.wgsl: q8 or q4, the Q4 override), read by wq_at
//   bias (N) f32 (read only when flags & 1)
//   y    (M, N) f32; read first when flags & 2 (accumulate)
// Accumulation is f32. Versions (chosen by ops/matmulQuant.ts):
//   matmul_quant_v1: one output per thread, the obviously-right one; any shape
//   matmul_quant_v2: 4 x 4 outputs per thread; (4·WG_Y) x TILE_K of x and (4·WG_X) x TILE_K of the
//                    dequantized W staged in workgroup memory; any shape
// Before this file comes fragments/quant_weights.wgsl (Q4, wq_at).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 1: add bias, 2: accumulate into y
  alpha: f32,
  group: u32,
  groups: u32,
  row_words: u32,
  meta_offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> Wq: array<u32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override WG_X: u32 = 8;
override WG_Y: u32 = 8;
override TILE_K: u32 = 32;

fn store_out(m: u32, n: u32, acc: f32) {
  if (m < params.M && n < params.N) {
    let i = m * params.N + n;
    var v = acc * params.alpha;
    if ((params.flags & 1u) != 0u) {
      v += bias[n];
    }
    if ((params.flags & 2u) != 0u) {
      v += y[i];
    }
    y[i] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_quant_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (m >= params.M || n >= params.N) {
    return;
  }
  let K = params.K;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc = fma(x[m * K + k], wq_at(n, k), acc);
  }
  store_out(m, n, acc);
}

// xs[kk · WG_Y + ty] holds x rows m_tile + 4·ty .. + 3 at column k0 + kk (a vec4 over rows);
// ws[kk · WG_X + tx] holds dequantized W rows n_tile + 4·tx .. + 3 likewise.
var<workgroup> xs: array<vec4<f32>, TILE_K * WG_Y>;
var<workgroup> ws: array<vec4<f32>, TILE_K * WG_X>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_quant_v2(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let BM = 4u * WG_Y;
  let BN = 4u * WG_X;
  let m_tile = wid.y * BM;
  let n_tile = wid.x * BN;
  let threads = WG_X * WG_Y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    for (var e = li; e < BM * TILE_K; e += threads) {
      let r = e / TILE_K;
      let kk = e % TILE_K;
      let m = m_tile + r;
      let k = k0 + kk;
      var v = 0.0;
      if (m < M && k < K) {
        v = x[m * K + k];
      }
      xs[kk * WG_Y + r / 4u][r % 4u] = v;
    }
    for (var e = li; e < BN * TILE_K; e += threads) {
      let r = e / TILE_K;
      let kk = e % TILE_K;
      let n = n_tile + r;
      let k = k0 + kk;
      var v = 0.0;
      if (n < N && k < K) {
        v = wq_at(n, k);
      }
      ws[kk * WG_X + r / 4u][r % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = xs[kk * WG_Y + lid.y];
      let b = ws[kk * WG_X + lid.x];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  let m0 = m_tile + 4u * lid.y;
  let n0 = n_tile + 4u * lid.x;
  store_out(m0, n0, acc0.x);
  store_out(m0, n0 + 1u, acc0.y);
  store_out(m0, n0 + 2u, acc0.z);
  store_out(m0, n0 + 3u, acc0.w);
  store_out(m0 + 1u, n0, acc1.x);
  store_out(m0 + 1u, n0 + 1u, acc1.y);
  store_out(m0 + 1u, n0 + 2u, acc1.z);
  store_out(m0 + 1u, n0 + 3u, acc1.w);
  store_out(m0 + 2u, n0, acc2.x);
  store_out(m0 + 2u, n0 + 1u, acc2.y);
  store_out(m0 + 2u, n0 + 2u, acc2.z);
  store_out(m0 + 2u, n0 + 3u, acc2.w);
  store_out(m0 + 3u, n0, acc3.x);
  store_out(m0 + 3u, n0 + 1u, acc3.y);
  store_out(m0 + 3u, n0 + 2u, acc3.z);
  store_out(m0 + 3u, n0 + 3u, acc3.w);
}
