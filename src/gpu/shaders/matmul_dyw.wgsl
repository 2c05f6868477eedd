// dx = alpha · dy · W (+ dx when accumulating), for b in 0..batch (workgroup_id.z)
//   dy is (M, N) f32, row-major (the gradient of y = x·Wᵀ); batch b starts at element b · dy_batch
//   W  is (N, K), Hugging Face nn.Linear layout; fp16 packed two halves per u32 (element 2i in the
//      low half) when W_F16, else f32; batch b starts at element b · w_batch (0: shared weights)
//   dx is (M, K) f32; batch b starts at element b · dx_batch; read first when flags & 2 (accumulate,
//      e.g. summing the base and LoRA contributions, or a residual branch, into one gradient)
// Accumulation is f32. The reduction runs over n: dy rows are contiguous along it, W is read along
// its rows (k contiguous). Versions (same numbering as matmul.wgsl):
//   matmul_dyw_v1: one output per thread; any shape
//   matmul_dyw_v2: 4 x 4 outputs per thread in registers, scalar loads; any shape
//   matmul_dyw_v3: 4 x 4 outputs per thread, tiles of dy and W in workgroup memory; any shape
//   matmul_dyw_v4: 8 x 8 outputs per thread, vec4 loads; needs N % 4 == 0 and K % 4 == 0
// matmul_dyw_sg.wgsl holds the quad-sharing versions v5 and v6.
// matmul_dyw_v7.wgsl and matmul_dyw_v7_vec4.wgsl hold the register-tiled version 7 (fragments/matmul_rt.wgsl).
// Before this file come the fragments listed in ops/matmulShaders.ts (src/gpu/shaders/fragments/):
// matmul_dyw_io.wgsl (Params, bindings, dy4_at, store_out), fp16_weights.wgsl (W_F16, w_at,
// w4_vec, w_cols), matmul_mac.wgsl (mac, store4).

override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K: u32 = 16;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dyw_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let m = gid.y;
  if (m >= params.M || k >= params.K) {
    return;
  }
  let N = params.N;
  let K = params.K;
  let d = gid.z * params.dy_batch + m * N;
  let wb = gid.z * params.w_batch + k;
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    acc = fma(dy[d + n], w_at(wb + n * K), acc);
  }
  store_out(gid.z * params.dx_batch, m, k, acc);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dyw_v2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let k0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= M || k0 >= K) {
    return;
  }
  // Out-of-range rows/columns read clamped (valid) ones and are not stored.
  let db = gid.z * params.dy_batch;
  let d0 = db + min(m0, M - 1u) * N;
  let d1 = db + min(m0 + 1u, M - 1u) * N;
  let d2 = db + min(m0 + 2u, M - 1u) * N;
  let d3 = db + min(m0 + 3u, M - 1u) * N;
  let cols = min(vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u), vec4<u32>(K - 1u));
  let wb = gid.z * params.w_batch;
  // acc_i holds row m0 + i, columns k0 .. k0 + 3
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var n = 0u;
  for (; n + 4u <= N; n += 4u) {
    let r = wb + n * K;
    let B = mat4x4<f32>(w_cols(r, cols), w_cols(r + K, cols), w_cols(r + 2u * K, cols), w_cols(r + 3u * K, cols));
    acc0 = mac(dy4_at(d0 + n), B, acc0);
    acc1 = mac(dy4_at(d1 + n), B, acc1);
    acc2 = mac(dy4_at(d2 + n), B, acc2);
    acc3 = mac(dy4_at(d3 + n), B, acc3);
  }
  for (; n < N; n++) {
    let b = w_cols(wb + n * K, cols);
    acc0 = fma(vec4<f32>(dy[d0 + n]), b, acc0);
    acc1 = fma(vec4<f32>(dy[d1 + n]), b, acc1);
    acc2 = fma(vec4<f32>(dy[d2 + n]), b, acc2);
    acc3 = fma(vec4<f32>(dy[d3 + n]), b, acc3);
  }
  let xb = gid.z * params.dx_batch;
  store4(xb, m0, k0, acc0);
  store4(xb, m0 + 1u, k0, acc1);
  store4(xb, m0 + 2u, k0, acc2);
  store4(xb, m0 + 3u, k0, acc3);
}

// matmul_dyw_v3 tiles: ds[nn · WG_Y + ty] = dy rows m_tile + 4·ty .. + 3 at column n0 + nn (vec4 over
// rows); ws[nn · WG_X + tx] = W row n0 + nn at columns k_tile + 4·tx .. + 3.
var<workgroup> ds: array<vec4<f32>, TILE_K * WG_Y>;
var<workgroup> ws: array<vec4<f32>, TILE_K * WG_X>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dyw_v3(
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
  let db = wid.z * params.dy_batch;
  let wb = wid.z * params.w_batch;
  let threads = WG_X * WG_Y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var n0 = 0u; n0 < N; n0 += TILE_K) {
    // consecutive threads read consecutive n (dy) / consecutive k (W); zero outside the matrices
    for (var e = li; e < BM * TILE_K; e += threads) {
      let r = e / TILE_K;
      let nn = e % TILE_K;
      let m = m_tile + r;
      let n = n0 + nn;
      var v = 0.0;
      if (m < M && n < N) {
        v = dy[db + m * N + n];
      }
      ds[nn * WG_Y + r / 4u][r % 4u] = v;
    }
    for (var e = li; e < BK * TILE_K; e += threads) {
      let nn = e / BK;
      let c = e % BK;
      let n = n0 + nn;
      let k = k_tile + c;
      var v = 0.0;
      if (n < N && k < K) {
        v = w_at(wb + n * K + k);
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
  let xb = wid.z * params.dx_batch;
  store4(xb, m0, k0, acc0);
  store4(xb, m0 + 1u, k0, acc1);
  store4(xb, m0 + 2u, k0, acc2);
  store4(xb, m0 + 3u, k0, acc3);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dyw_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let k0 = gid.x * 8u;
  let m0 = gid.y * 8u;
  if (m0 >= M || k0 >= params.K) {
    return;
  }
  // vec4 units throughout; clamped rows / column chunks are computed but not stored
  let db = gid.z * (params.dy_batch / 4u);
  let d0 = db + min(m0, M - 1u) * N4;
  let d1 = db + min(m0 + 1u, M - 1u) * N4;
  let d2 = db + min(m0 + 2u, M - 1u) * N4;
  let d3 = db + min(m0 + 3u, M - 1u) * N4;
  let d4 = db + min(m0 + 4u, M - 1u) * N4;
  let d5 = db + min(m0 + 5u, M - 1u) * N4;
  let d6 = db + min(m0 + 6u, M - 1u) * N4;
  let d7 = db + min(m0 + 7u, M - 1u) * N4;
  let wb = gid.z * (params.w_batch / 4u);
  let c0 = wb + min(k0 / 4u, K4 - 1u);
  let c1 = wb + min(k0 / 4u + 1u, K4 - 1u);
  // aI_J: row m0 + I, columns k0 + 4·J .. + 3
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
  for (var n = 0u; n < N4; n++) {
    let r = 4u * n * K4; // W row 4n
    let B0 = mat4x4<f32>(w4_vec(c0 + r), w4_vec(c0 + r + K4), w4_vec(c0 + r + 2u * K4), w4_vec(c0 + r + 3u * K4));
    let B1 = mat4x4<f32>(w4_vec(c1 + r), w4_vec(c1 + r + K4), w4_vec(c1 + r + 2u * K4), w4_vec(c1 + r + 3u * K4));
    let r0 = dy4[d0 + n];
    a0_0 = mac(r0, B0, a0_0);
    a0_1 = mac(r0, B1, a0_1);
    let r1 = dy4[d1 + n];
    a1_0 = mac(r1, B0, a1_0);
    a1_1 = mac(r1, B1, a1_1);
    let r2 = dy4[d2 + n];
    a2_0 = mac(r2, B0, a2_0);
    a2_1 = mac(r2, B1, a2_1);
    let r3 = dy4[d3 + n];
    a3_0 = mac(r3, B0, a3_0);
    a3_1 = mac(r3, B1, a3_1);
    let r4 = dy4[d4 + n];
    a4_0 = mac(r4, B0, a4_0);
    a4_1 = mac(r4, B1, a4_1);
    let r5 = dy4[d5 + n];
    a5_0 = mac(r5, B0, a5_0);
    a5_1 = mac(r5, B1, a5_1);
    let r6 = dy4[d6 + n];
    a6_0 = mac(r6, B0, a6_0);
    a6_1 = mac(r6, B1, a6_1);
    let r7 = dy4[d7 + n];
    a7_0 = mac(r7, B0, a7_0);
    a7_1 = mac(r7, B1, a7_1);
  }
  let xb = gid.z * params.dx_batch;
  store4(xb, m0, k0, a0_0);
  store4(xb, m0, k0 + 4u, a0_1);
  store4(xb, m0 + 1u, k0, a1_0);
  store4(xb, m0 + 1u, k0 + 4u, a1_1);
  store4(xb, m0 + 2u, k0, a2_0);
  store4(xb, m0 + 2u, k0 + 4u, a2_1);
  store4(xb, m0 + 3u, k0, a3_0);
  store4(xb, m0 + 3u, k0 + 4u, a3_1);
  store4(xb, m0 + 4u, k0, a4_0);
  store4(xb, m0 + 4u, k0 + 4u, a4_1);
  store4(xb, m0 + 5u, k0, a5_0);
  store4(xb, m0 + 5u, k0 + 4u, a5_1);
  store4(xb, m0 + 6u, k0, a6_0);
  store4(xb, m0 + 6u, k0 + 4u, a6_1);
  store4(xb, m0 + 7u, k0, a7_0);
  store4(xb, m0 + 7u, k0 + 4u, a7_1);
}
