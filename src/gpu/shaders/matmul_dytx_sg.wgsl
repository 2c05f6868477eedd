// dW = alpha · dyᵀ · x (+ dW when accumulating): the quad-sharing versions of matmul_dytx.wgsl.
// Same bindings, parameters and layouts as matmul_dytx.wgsl (read its header):
//   dy (M, N) f32, x (M, K) f32, dW (N, K) f32, batch on workgroup_id.z.
// Needs the 'subgroups' feature (quad operations); see matmul_sg.wgsl for why and how the quad is
// laid out: lane q computes the 8 x 8 tile (row 2·qy + (q >> 1), col 2·qx + (q & 1)) of its quad;
// lanes q, q ^ 1 share dy columns (the tile's rows n, quadSwapX), lanes q, q ^ 2 share x columns
// (the tile's columns k, quadSwapY).
//   matmul_dytx_v5: 8 x 8 outputs per thread, vec4 loads; needs N % 4 == 0 and K % 4 == 0
//   matmul_dytx_v6: 8 x 8 outputs per thread, scalar loads; any shape
// No early returns: every lane of a quad must reach the swaps.
// Before this file come the fragments listed in ops/matmulShaders.ts: quad_tile.wgsl (enable
// subgroups, QX, QY, QuadTile, quad_tile, store_tile, swapX4, swapY4), then those of
// matmul_dytx.wgsl.

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dytx_v5(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let t = quad_tile(li, wid);
  let d = wid.z * (params.dy_batch / 4u) + min(t.rh / 4u, N4 - 1u);
  let c = wid.z * (params.x_batch / 4u) + min(t.ch / 4u, K4 - 1u);
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
    let dr = d + m * N4;
    let xr = c + m * K4;
    // D0[i] = dy[m .. m+3, nh + i]; X0 columns = x rows m .. m+3 at this thread's 4 columns
    let D0 = transpose(mat4x4<f32>(dy4[dr], dy4[dr + N4], dy4[dr + 2u * N4], dy4[dr + 3u * N4]));
    let X0 = mat4x4<f32>(x4[xr], x4[xr + K4], x4[xr + 2u * K4], x4[xr + 3u * K4]);
    let D1 = swapX4(D0);
    let X1 = swapY4(X0);
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
  // M tail (M is uniform: every lane of a quad runs the same iterations)
  for (; m < M; m++) {
    let p = dy4[d + m * N4];
    let q = quadSwapX(p);
    let b0 = x4[c + m * K4];
    let b1 = quadSwapY(b0);
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
  store_tile(wid.z * params.dw_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dytx_v6(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let t = quad_tile(li, wid);
  // clamped (valid) columns of dy and x, batch offset included
  let nc = min(vec4<u32>(t.rh, t.rh + 1u, t.rh + 2u, t.rh + 3u), vec4<u32>(N - 1u)) + wid.z * params.dy_batch;
  let kc = min(vec4<u32>(t.ch, t.ch + 1u, t.ch + 2u, t.ch + 3u), vec4<u32>(K - 1u)) + wid.z * params.x_batch;
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
    let dr = m * N;
    let xr = m * K;
    let D0 = transpose(mat4x4<f32>(
      vec4<f32>(dy[dr + nc.x], dy[dr + nc.y], dy[dr + nc.z], dy[dr + nc.w]),
      vec4<f32>(dy[dr + N + nc.x], dy[dr + N + nc.y], dy[dr + N + nc.z], dy[dr + N + nc.w]),
      vec4<f32>(dy[dr + 2u * N + nc.x], dy[dr + 2u * N + nc.y], dy[dr + 2u * N + nc.z], dy[dr + 2u * N + nc.w]),
      vec4<f32>(dy[dr + 3u * N + nc.x], dy[dr + 3u * N + nc.y], dy[dr + 3u * N + nc.z], dy[dr + 3u * N + nc.w]),
    ));
    let X0 = mat4x4<f32>(
      vec4<f32>(x[xr + kc.x], x[xr + kc.y], x[xr + kc.z], x[xr + kc.w]),
      vec4<f32>(x[xr + K + kc.x], x[xr + K + kc.y], x[xr + K + kc.z], x[xr + K + kc.w]),
      vec4<f32>(x[xr + 2u * K + kc.x], x[xr + 2u * K + kc.y], x[xr + 2u * K + kc.z], x[xr + 2u * K + kc.w]),
      vec4<f32>(x[xr + 3u * K + kc.x], x[xr + 3u * K + kc.y], x[xr + 3u * K + kc.z], x[xr + 3u * K + kc.w]),
    );
    let D1 = swapX4(D0);
    let X1 = swapY4(X0);
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
    let dr = m * N;
    let xr = m * K;
    let p = vec4<f32>(dy[dr + nc.x], dy[dr + nc.y], dy[dr + nc.z], dy[dr + nc.w]);
    let q = quadSwapX(p);
    let b0 = vec4<f32>(x[xr + kc.x], x[xr + kc.y], x[xr + kc.z], x[xr + kc.w]);
    let b1 = quadSwapY(b0);
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
  store_tile(wid.z * params.dw_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}
