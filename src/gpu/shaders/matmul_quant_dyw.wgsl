// dx = alpha · dy · W (+ dx when accumulating) with a quantized W: the input gradient of y = x·Wᵀ
// through a frozen quantized base (the LoRA backward needs it).
//   dy (M, N) f32, row-major
//   W  (N, K) quantized (fragments/quant_weights.wgsl), read by wq_at
//   dx (M, K) f32; read first when flags & 2 (accumulate)
// Accumulation is f32; the reduction runs over n. Versions (ops/matmulQuant.ts):
//   matmul_quant_dyw_v1: one output per thread; any shape
//   matmul_quant_dyw_v2: 4 x 4 outputs per thread, tiles of dy and the dequantized W in workgroup
//                        memory; any shape
// Before this file comes fragments/quant_weights.wgsl (Q4, wq_at).

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 2: accumulate into dx
  alpha: f32,
  group: u32,
  groups: u32,
  row_words: u32,
  meta_offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> Wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WG_X: u32 = 8;
override WG_Y: u32 = 8;
override TILE_K: u32 = 32;

fn store_out(m: u32, k: u32, acc: f32) {
  if (m < params.M && k < params.K) {
    let i = m * params.K + k;
    var v = acc * params.alpha;
    if ((params.flags & 2u) != 0u) {
      v += dx[i];
    }
    dx[i] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_quant_dyw_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let m = gid.y;
  if (m >= params.M || k >= params.K) {
    return;
  }
  let N = params.N;
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    acc = fma(dy[m * N + n], wq_at(n, k), acc);
  }
  store_out(m, k, acc);
}

// ds[nn · WG_Y + ty] = dy rows m_tile + 4·ty .. + 3 at column n0 + nn (vec4 over rows);
// ws[nn · WG_X + tx] = dequantized W row n0 + nn at columns k_tile + 4·tx .. + 3.
var<workgroup> ds: array<vec4<f32>, TILE_K * WG_Y>;
var<workgroup> ws: array<vec4<f32>, TILE_K * WG_X>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_quant_dyw_v2(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let BM = 4u * WG_Y;
  let BK = 4u * WG_X;
  let m_tile = wid.y * BM;
  let k_tile = wid.x * BK;
  let threads = WG_X * WG_Y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var n0 = 0u; n0 < N; n0 += TILE_K) {
    for (var e = li; e < BM * TILE_K; e += threads) {
      let r = e / TILE_K;
      let nn = e % TILE_K;
      let m = m_tile + r;
      let n = n0 + nn;
      var v = 0.0;
      if (m < M && n < N) {
        v = dy[m * N + n];
      }
      ds[nn * WG_Y + r / 4u][r % 4u] = v;
    }
    // consecutive threads take consecutive k of one W row (the codes are contiguous along k)
    for (var e = li; e < BK * TILE_K; e += threads) {
      let nn = e / BK;
      let c = e % BK;
      let n = n0 + nn;
      let k = k_tile + c;
      var v = 0.0;
      if (n < N && k < K) {
        v = wq_at(n, k);
      }
      ws[nn * WG_X + c / 4u][c % 4u] = v;
    }
    workgroupBarrier();
    for (var nn = 0u; nn < TILE_K; nn++) {
      let a = ds[nn * WG_Y + lid.y];
      let b = ws[nn * WG_X + lid.x];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  let m0 = m_tile + 4u * lid.y;
  let k0 = k_tile + 4u * lid.x;
  store_out(m0, k0, acc0.x);
  store_out(m0, k0 + 1u, acc0.y);
  store_out(m0, k0 + 2u, acc0.z);
  store_out(m0, k0 + 3u, acc0.w);
  store_out(m0 + 1u, k0, acc1.x);
  store_out(m0 + 1u, k0 + 1u, acc1.y);
  store_out(m0 + 1u, k0 + 2u, acc1.z);
  store_out(m0 + 1u, k0 + 3u, acc1.w);
  store_out(m0 + 2u, k0, acc2.x);
  store_out(m0 + 2u, k0 + 1u, acc2.y);
  store_out(m0 + 2u, k0 + 2u, acc2.z);
  store_out(m0 + 2u, k0 + 3u, acc2.w);
  store_out(m0 + 3u, k0, acc3.x);
  store_out(m0 + 3u, k0 + 1u, acc3.y);
  store_out(m0 + 3u, k0 + 2u, acc3.z);
  store_out(m0 + 3u, k0 + 3u, acc3.w);
}
