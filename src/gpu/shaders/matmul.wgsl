// y = alpha · x · Wᵀ (+ bias) (+ y when accumulating), for b in 0..batch (workgroup_id.z)
//   x    is (M, K) f32, row-major; batch b starts at element b · x_batch
//   W    is (N, K), Hugging Face nn.Linear layout; fp16 packed two halves per u32 (element 2i in the
//        low half) when W_F16, else f32; batch b starts at element b · w_batch (0: shared weights)
//   bias is (N) f32 (read only when flags & 1; bind any buffer otherwise)
//   y    is (M, N) f32; batch b starts at element b · y_batch; read first when flags & 2 (accumulate)
// Accumulation is f32. Numbered kernel versions, chosen by the TS op (ops/matmul.ts) or its autotuner:
//   matmul_v1: one output per thread (the simple, obviously-right one); any shape
//   matmul_v2: 4 x 4 outputs per thread in registers, scalar loads; any shape
//   matmul_v3: 4 x 4 outputs per thread, (4·WG_Y) x (4·WG_X) tiles of x and W staged in workgroup
//              memory TILE_K columns at a time; any shape. What real GPUs want.
//   matmul_v4: 8 x 8 outputs per thread in registers, vec4 loads; needs K % 4 == 0 (and batch strides
//              % 4 == 0), the op checks. What CPU adapters (SwiftShader) want: no barriers, few loads.
// matmul_sg.wgsl holds the versions that share loads across a quad of invocations (subgroups).
// matmul_v7.wgsl and matmul_v7_vec4.wgsl hold the register-tiled version 7 (fragments/matmul_rt.wgsl).
//
// On a software adapter every per-invocation load is a gather (one scalar load per SIMD lane), so
// what matters there is outputs per loaded value; on a GPU, coalescing and workgroup-memory reuse.
// Register tiles are written out (no loops over arrays indexed by a loop variable): SwiftShader keeps
// dynamically indexed function arrays in memory and turns every access into a gather.
//
// Before this file come the fragments listed in ops/matmulShaders.ts (src/gpu/shaders/fragments/):
// matmul_xwt_io.wgsl (Params, bindings, x4_at, store_out), fp16_weights.wgsl (W_F16, w_at, w4_at,
// w4_vec), matmul_mac.wgsl (mac, rows4, store4).

override WG_X: u32 = 16;
override WG_Y: u32 = 16;
// K columns per workgroup-memory tile (matmul_v3)
override TILE_K: u32 = 16;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (m >= params.M || n >= params.N) {
    return;
  }
  let K = params.K;
  let xr = gid.z * params.x_batch + m * K;
  let wr = gid.z * params.w_batch + n * K;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc = fma(x[xr + k], w_at(wr + k), acc);
  }
  store_out(gid.z * params.y_batch, m, n, acc);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= M || n0 >= N) {
    return;
  }
  // Out-of-range rows/columns read a clamped (valid) row and are simply not stored.
  let xb = gid.z * params.x_batch;
  let wb = gid.z * params.w_batch;
  let x0 = xb + min(m0, M - 1u) * K;
  let x1 = xb + min(m0 + 1u, M - 1u) * K;
  let x2 = xb + min(m0 + 2u, M - 1u) * K;
  let x3 = xb + min(m0 + 3u, M - 1u) * K;
  let w0 = wb + min(n0, N - 1u) * K;
  let w1 = wb + min(n0 + 1u, N - 1u) * K;
  let w2 = wb + min(n0 + 2u, N - 1u) * K;
  let w3 = wb + min(n0 + 3u, N - 1u) * K;
  // acc_i holds row m0 + i, columns n0 .. n0 + 3
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    let B = rows4(w4_at(w0 + k), w4_at(w1 + k), w4_at(w2 + k), w4_at(w3 + k));
    acc0 = mac(x4_at(x0 + k), B, acc0);
    acc1 = mac(x4_at(x1 + k), B, acc1);
    acc2 = mac(x4_at(x2 + k), B, acc2);
    acc3 = mac(x4_at(x3 + k), B, acc3);
  }
  for (; k < K; k++) {
    let b = vec4<f32>(w_at(w0 + k), w_at(w1 + k), w_at(w2 + k), w_at(w3 + k));
    acc0 = fma(vec4<f32>(x[x0 + k]), b, acc0);
    acc1 = fma(vec4<f32>(x[x1 + k]), b, acc1);
    acc2 = fma(vec4<f32>(x[x2 + k]), b, acc2);
    acc3 = fma(vec4<f32>(x[x3 + k]), b, acc3);
  }
  let yb = gid.z * params.y_batch;
  store4(yb, m0, n0, acc0);
  store4(yb, m0 + 1u, n0, acc1);
  store4(yb, m0 + 2u, n0, acc2);
  store4(yb, m0 + 3u, n0, acc3);
}

// matmul_v3 tiles: xs[kk · WG_Y + ty] holds x rows m0 + 4·ty .. + 3 at column k0 + kk (a vec4 over
// rows), ws[kk · WG_X + tx] holds W rows n0 + 4·tx .. + 3 likewise; each thread then reads one vec4
// of each per kk for 16 fma.
var<workgroup> xs: array<vec4<f32>, TILE_K * WG_Y>;
var<workgroup> ws: array<vec4<f32>, TILE_K * WG_X>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v3(
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
  let xb = wid.z * params.x_batch;
  let wb = wid.z * params.w_batch;
  let threads = WG_X * WG_Y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    // Cooperative loads, consecutive threads along k (contiguous in memory); zero outside the matrix.
    for (var e = li; e < BM * TILE_K; e += threads) {
      let r = e / TILE_K;
      let kk = e % TILE_K;
      let m = m_tile + r;
      let k = k0 + kk;
      var v = 0.0;
      if (m < M && k < K) {
        v = x[xb + m * K + k];
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
        v = w_at(wb + n * K + k);
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
  let yb = wid.z * params.y_batch;
  store4(yb, m0, n0, acc0);
  store4(yb, m0 + 1u, n0, acc1);
  store4(yb, m0 + 2u, n0, acc2);
  store4(yb, m0 + 3u, n0, acc3);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let n0 = gid.x * 8u;
  let m0 = gid.y * 8u;
  if (m0 >= M || n0 >= N) {
    return;
  }
  // Row starts in vec4 units, clamped to valid rows (those outputs are not stored).
  let xb = gid.z * (params.x_batch / 4u);
  let wb = gid.z * (params.w_batch / 4u);
  let x0 = xb + min(m0, M - 1u) * K4;
  let x1 = xb + min(m0 + 1u, M - 1u) * K4;
  let x2 = xb + min(m0 + 2u, M - 1u) * K4;
  let x3 = xb + min(m0 + 3u, M - 1u) * K4;
  let x4r = xb + min(m0 + 4u, M - 1u) * K4;
  let x5 = xb + min(m0 + 5u, M - 1u) * K4;
  let x6 = xb + min(m0 + 6u, M - 1u) * K4;
  let x7 = xb + min(m0 + 7u, M - 1u) * K4;
  let w0 = wb + min(n0, N - 1u) * K4;
  let w1 = wb + min(n0 + 1u, N - 1u) * K4;
  let w2 = wb + min(n0 + 2u, N - 1u) * K4;
  let w3 = wb + min(n0 + 3u, N - 1u) * K4;
  let w4 = wb + min(n0 + 4u, N - 1u) * K4;
  let w5 = wb + min(n0 + 5u, N - 1u) * K4;
  let w6 = wb + min(n0 + 6u, N - 1u) * K4;
  let w7 = wb + min(n0 + 7u, N - 1u) * K4;
  // aI_J: row m0 + I, columns n0 + 4·J .. + 3
  var a0_0 = vec4<f32>(0.0);
  var a0_1 = vec4<f32>(0.0);
  var a1_0 = vec4<f32>(0.0);
  var a1_1 = vec4<f32>(0.0);
  var a2_0 = vec4<f32>(0.0);
  var a2_1 = vec4<f32>(0.0);
  var a3_0 = vec4<f32>(0.0);
  var a3_1 = vec4<f32>(0.0);
  var a4_0 = vec4<f32>(0.0);
  var a4_1 = vec4<f32>(0.0);
  var a5_0 = vec4<f32>(0.0);
  var a5_1 = vec4<f32>(0.0);
  var a6_0 = vec4<f32>(0.0);
  var a6_1 = vec4<f32>(0.0);
  var a7_0 = vec4<f32>(0.0);
  var a7_1 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let B0 = rows4(w4_vec(w0 + k), w4_vec(w1 + k), w4_vec(w2 + k), w4_vec(w3 + k));
    let B1 = rows4(w4_vec(w4 + k), w4_vec(w5 + k), w4_vec(w6 + k), w4_vec(w7 + k));
    let r0 = x4[x0 + k];
    a0_0 = mac(r0, B0, a0_0);
    a0_1 = mac(r0, B1, a0_1);
    let r1 = x4[x1 + k];
    a1_0 = mac(r1, B0, a1_0);
    a1_1 = mac(r1, B1, a1_1);
    let r2 = x4[x2 + k];
    a2_0 = mac(r2, B0, a2_0);
    a2_1 = mac(r2, B1, a2_1);
    let r3 = x4[x3 + k];
    a3_0 = mac(r3, B0, a3_0);
    a3_1 = mac(r3, B1, a3_1);
    let r4 = x4[x4r + k];
    a4_0 = mac(r4, B0, a4_0);
    a4_1 = mac(r4, B1, a4_1);
    let r5 = x4[x5 + k];
    a5_0 = mac(r5, B0, a5_0);
    a5_1 = mac(r5, B1, a5_1);
    let r6 = x4[x6 + k];
    a6_0 = mac(r6, B0, a6_0);
    a6_1 = mac(r6, B1, a6_1);
    let r7 = x4[x7 + k];
    a7_0 = mac(r7, B0, a7_0);
    a7_1 = mac(r7, B1, a7_1);
  }
  let yb = gid.z * params.y_batch;
  store4(yb, m0, n0, a0_0);
  store4(yb, m0, n0 + 4u, a0_1);
  store4(yb, m0 + 1u, n0, a1_0);
  store4(yb, m0 + 1u, n0 + 4u, a1_1);
  store4(yb, m0 + 2u, n0, a2_0);
  store4(yb, m0 + 2u, n0 + 4u, a2_1);
  store4(yb, m0 + 3u, n0, a3_0);
  store4(yb, m0 + 3u, n0 + 4u, a3_1);
  store4(yb, m0 + 4u, n0, a4_0);
  store4(yb, m0 + 4u, n0 + 4u, a4_1);
  store4(yb, m0 + 5u, n0, a5_0);
  store4(yb, m0 + 5u, n0 + 4u, a5_1);
  store4(yb, m0 + 6u, n0, a6_0);
  store4(yb, m0 + 6u, n0 + 4u, a6_1);
  store4(yb, m0 + 7u, n0, a7_0);
  store4(yb, m0 + 7u, n0 + 4u, a7_1);
}
