// dW = alpha · dyᵀ · x (+ dW when accumulating), for b in 0..batch (workgroup_id.z)
//   dy is (M, N) f32, row-major (the gradient of y = x·Wᵀ); batch b starts at element b · dy_batch
//   x  is (M, K) f32 (the forward input); batch b starts at element b · x_batch
//   dW is (N, K) f32 (Hugging Face nn.Linear layout); batch b starts at element b · dw_batch; read
//      first when flags & 2 (gradient accumulation across micro-batches)
// (To sum over a batch into one dW, pass the batch as extra rows: M = B·T.)
// Accumulation is f32. The reduction runs over m, the rows of both inputs, which are read along
// their rows (n and k contiguous): an outer product per m. Versions (numbering as matmul.wgsl):
//   matmul_dytx_v1: one output per thread; any shape
//   matmul_dytx_v2: 4 x 4 outputs per thread in registers, scalar loads; any shape
//   matmul_dytx_v3: 4 x 4 outputs per thread, tiles of dy and x in workgroup memory; any shape
//   matmul_dytx_v4: 8 x 8 outputs per thread, vec4 loads; needs N % 4 == 0 and K % 4 == 0
// matmul_dytx_sg.wgsl holds the quad-sharing versions v5 and v6.
// matmul_dytx_v7.wgsl and matmul_dytx_v7_vec4.wgsl hold the register-tiled version 7 (fragments/matmul_rt.wgsl).
// Before this file come the fragments listed in ops/matmulShaders.ts (src/gpu/shaders/fragments/):
// matmul_dytx_io.wgsl (Params, bindings, store_out), matmul_mac.wgsl (mac, store4).

override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override TILE_K: u32 = 16;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dytx_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let n = gid.y;
  if (n >= params.N || k >= params.K) {
    return;
  }
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let d = gid.z * params.dy_batch + n;
  let xc = gid.z * params.x_batch + k;
  var acc = 0.0;
  for (var m = 0u; m < M; m++) {
    acc = fma(dy[d + m * N], x[xc + m * K], acc);
  }
  store_out(gid.z * params.dw_batch, n, k, acc);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dytx_v2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let k0 = gid.x * 4u;
  let n0 = gid.y * 4u;
  if (n0 >= N || k0 >= K) {
    return;
  }
  // clamped (valid) columns of dy and x; what they produce is not stored
  let nc = min(vec4<u32>(n0, n0 + 1u, n0 + 2u, n0 + 3u), vec4<u32>(N - 1u)) + gid.z * params.dy_batch;
  let kc = min(vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u), vec4<u32>(K - 1u)) + gid.z * params.x_batch;
  // acc_i holds row n0 + i, columns k0 .. k0 + 3
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var m = 0u; m < M; m++) {
    let dr = m * N;
    let xr = m * K;
    let d = vec4<f32>(dy[dr + nc.x], dy[dr + nc.y], dy[dr + nc.z], dy[dr + nc.w]);
    let b = vec4<f32>(x[xr + kc.x], x[xr + kc.y], x[xr + kc.z], x[xr + kc.w]);
    acc0 = fma(vec4<f32>(d.x), b, acc0);
    acc1 = fma(vec4<f32>(d.y), b, acc1);
    acc2 = fma(vec4<f32>(d.z), b, acc2);
    acc3 = fma(vec4<f32>(d.w), b, acc3);
  }
  let wb = gid.z * params.dw_batch;
  store4(wb, n0, k0, acc0);
  store4(wb, n0 + 1u, k0, acc1);
  store4(wb, n0 + 2u, k0, acc2);
  store4(wb, n0 + 3u, k0, acc3);
}

// matmul_dytx_v3 tiles: ds[mm · WG_Y + ty] = dy row m0 + mm at columns n_tile + 4·ty .. + 3;
// xs[mm · WG_X + tx] = x row m0 + mm at columns k_tile + 4·tx .. + 3.
var<workgroup> ds: array<vec4<f32>, TILE_K * WG_Y>;
var<workgroup> xs: array<vec4<f32>, TILE_K * WG_X>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dytx_v3(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let BN = 4u * WG_Y;
  let BK = 4u * WG_X;
  let n_tile = wid.y * BN;
  let k_tile = wid.x * BK;
  let db = wid.z * params.dy_batch;
  let xb = wid.z * params.x_batch;
  let threads = WG_X * WG_Y;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var m0 = 0u; m0 < M; m0 += TILE_K) {
    // consecutive threads read consecutive columns of one row; zero outside the matrices
    for (var e = li; e < BN * TILE_K; e += threads) {
      let mm = e / BN;
      let c = e % BN;
      let m = m0 + mm;
      let n = n_tile + c;
      var v = 0.0;
      if (m < M && n < N) {
        v = dy[db + m * N + n];
      }
      ds[mm * WG_Y + c / 4u][c % 4u] = v;
    }
    for (var e = li; e < BK * TILE_K; e += threads) {
      let mm = e / BK;
      let c = e % BK;
      let m = m0 + mm;
      let k = k_tile + c;
      var v = 0.0;
      if (m < M && k < K) {
        v = x[xb + m * K + k];
      }
      xs[mm * WG_X + c / 4u][c % 4u] = v;
    }
    workgroupBarrier();
    for (var mm = 0u; mm < TILE_K; mm++) {
      let a = ds[mm * WG_Y + lid.y];
      let b = xs[mm * WG_X + lid.x];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  let n0 = n_tile + 4u * lid.y;
  let k0 = k_tile + 4u * lid.x;
  let wb = wid.z * params.dw_batch;
  store4(wb, n0, k0, acc0);
  store4(wb, n0 + 1u, k0, acc1);
  store4(wb, n0 + 2u, k0, acc2);
  store4(wb, n0 + 3u, k0, acc3);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dytx_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let k0 = gid.x * 8u;
  let n0 = gid.y * 8u;
  if (n0 >= params.N || k0 >= params.K) {
    return;
  }
  // vec4 units; clamped column chunks are computed but not stored
  let d0 = gid.z * (params.dy_batch / 4u) + min(n0 / 4u, N4 - 1u);
  let d1 = gid.z * (params.dy_batch / 4u) + min(n0 / 4u + 1u, N4 - 1u);
  let c0 = gid.z * (params.x_batch / 4u) + min(k0 / 4u, K4 - 1u);
  let c1 = gid.z * (params.x_batch / 4u) + min(k0 / 4u + 1u, K4 - 1u);
  // aI_J: row n0 + I, columns k0 + 4·J .. + 3
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
  var m = 0u;
  for (; m + 4u <= M; m += 4u) {
    // four rows of dy (8 columns) and x (8 columns); D0[i] = dy[m .. m+3, n0 + i]
    let dr = m * N4;
    let xr = m * K4;
    let D0 = transpose(mat4x4<f32>(dy4[d0 + dr], dy4[d0 + dr + N4], dy4[d0 + dr + 2u * N4], dy4[d0 + dr + 3u * N4]));
    let D1 = transpose(mat4x4<f32>(dy4[d1 + dr], dy4[d1 + dr + N4], dy4[d1 + dr + 2u * N4], dy4[d1 + dr + 3u * N4]));
    let X0 = mat4x4<f32>(x4[c0 + xr], x4[c0 + xr + K4], x4[c0 + xr + 2u * K4], x4[c0 + xr + 3u * K4]);
    let X1 = mat4x4<f32>(x4[c1 + xr], x4[c1 + xr + K4], x4[c1 + xr + 2u * K4], x4[c1 + xr + 3u * K4]);
    a0_0 = mac(D0[0], X0, a0_0);
    a0_1 = mac(D0[0], X1, a0_1);
    a1_0 = mac(D0[1], X0, a1_0);
    a1_1 = mac(D0[1], X1, a1_1);
    a2_0 = mac(D0[2], X0, a2_0);
    a2_1 = mac(D0[2], X1, a2_1);
    a3_0 = mac(D0[3], X0, a3_0);
    a3_1 = mac(D0[3], X1, a3_1);
    a4_0 = mac(D1[0], X0, a4_0);
    a4_1 = mac(D1[0], X1, a4_1);
    a5_0 = mac(D1[1], X0, a5_0);
    a5_1 = mac(D1[1], X1, a5_1);
    a6_0 = mac(D1[2], X0, a6_0);
    a6_1 = mac(D1[2], X1, a6_1);
    a7_0 = mac(D1[3], X0, a7_0);
    a7_1 = mac(D1[3], X1, a7_1);
  }
  for (; m < M; m++) {
    let p = dy4[d0 + m * N4];
    let q = dy4[d1 + m * N4];
    let b0 = x4[c0 + m * K4];
    let b1 = x4[c1 + m * K4];
    a0_0 = fma(vec4<f32>(p.x), b0, a0_0);
    a0_1 = fma(vec4<f32>(p.x), b1, a0_1);
    a1_0 = fma(vec4<f32>(p.y), b0, a1_0);
    a1_1 = fma(vec4<f32>(p.y), b1, a1_1);
    a2_0 = fma(vec4<f32>(p.z), b0, a2_0);
    a2_1 = fma(vec4<f32>(p.z), b1, a2_1);
    a3_0 = fma(vec4<f32>(p.w), b0, a3_0);
    a3_1 = fma(vec4<f32>(p.w), b1, a3_1);
    a4_0 = fma(vec4<f32>(q.x), b0, a4_0);
    a4_1 = fma(vec4<f32>(q.x), b1, a4_1);
    a5_0 = fma(vec4<f32>(q.y), b0, a5_0);
    a5_1 = fma(vec4<f32>(q.y), b1, a5_1);
    a6_0 = fma(vec4<f32>(q.z), b0, a6_0);
    a6_1 = fma(vec4<f32>(q.z), b1, a6_1);
    a7_0 = fma(vec4<f32>(q.w), b0, a7_0);
    a7_1 = fma(vec4<f32>(q.w), b1, a7_1);
  }
  let wb = gid.z * params.dw_batch;
  store4(wb, n0, k0, a0_0);
  store4(wb, n0, k0 + 4u, a0_1);
  store4(wb, n0 + 1u, k0, a1_0);
  store4(wb, n0 + 1u, k0 + 4u, a1_1);
  store4(wb, n0 + 2u, k0, a2_0);
  store4(wb, n0 + 2u, k0 + 4u, a2_1);
  store4(wb, n0 + 3u, k0, a3_0);
  store4(wb, n0 + 3u, k0 + 4u, a3_1);
  store4(wb, n0 + 4u, k0, a4_0);
  store4(wb, n0 + 4u, k0 + 4u, a4_1);
  store4(wb, n0 + 5u, k0, a5_0);
  store4(wb, n0 + 5u, k0 + 4u, a5_1);
  store4(wb, n0 + 6u, k0, a6_0);
  store4(wb, n0 + 6u, k0 + 4u, a6_1);
  store4(wb, n0 + 7u, k0, a7_0);
  store4(wb, n0 + 7u, k0 + 4u, a7_1);
}
