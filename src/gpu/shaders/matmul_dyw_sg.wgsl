// dx = alpha · dy · W (+ dx when accumulating): the quad-sharing versions of matmul_dyw.wgsl.
// Same bindings, parameters and layouts as matmul_dyw.wgsl (read its header):
//   dy (M, N) f32, W (N, K) fp16 packed (W_F16) or f32, dx (M, K) f32, batch on workgroup_id.z.
// Needs the 'subgroups' feature (quad operations); see matmul_sg.wgsl for why and how the quad is
// laid out: lane q computes the 8 x 8 tile (row 2·qy + (q >> 1), col 2·qx + (q & 1)) of its quad;
// lanes q, q ^ 1 share dy rows (quadSwapX), lanes q, q ^ 2 share W columns (quadSwapY).
//   matmul_dyw_v5: 8 x 8 outputs per thread, vec4 loads; needs N % 4 == 0 and K % 4 == 0
//   matmul_dyw_v6: 8 x 8 outputs per thread, scalar loads; any shape
// No early returns: every lane of a quad must reach the swaps.
// Before this file come the fragments listed in ops/matmulShaders.ts: quad_tile.wgsl (enable subgroups,
// QX, QY, QuadTile, quad_tile, store_tile, swapY4), then those of matmul_dyw.wgsl.

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dyw_v5(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let t = quad_tile(li, wid);
  let db = wid.z * (params.dy_batch / 4u);
  let d0 = db + min(t.rh, M - 1u) * N4;
  let d1 = db + min(t.rh + 1u, M - 1u) * N4;
  let d2 = db + min(t.rh + 2u, M - 1u) * N4;
  let d3 = db + min(t.rh + 3u, M - 1u) * N4;
  let c = wid.z * (params.w_batch / 4u) + min(t.ch / 4u, K4 - 1u);
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
    let r = c + 4u * n * K4; // W row 4n, this thread's column chunk
    let B0 = mat4x4<f32>(w4_vec(r), w4_vec(r + K4), w4_vec(r + 2u * K4), w4_vec(r + 3u * K4));
    let r0 = dy4[d0 + n];
    let r1 = dy4[d1 + n];
    let r2 = dy4[d2 + n];
    let r3 = dy4[d3 + n];
    let B1 = swapY4(B0);
    let r4 = quadSwapX(r0);
    let r5 = quadSwapX(r1);
    let r6 = quadSwapX(r2);
    let r7 = quadSwapX(r3);
    a0_0 = mac(r0, B0, a0_0);
    a0_1 = mac(r0, B1, a0_1);
    a1_0 = mac(r1, B0, a1_0);
    a1_1 = mac(r1, B1, a1_1);
    a2_0 = mac(r2, B0, a2_0);
    a2_1 = mac(r2, B1, a2_1);
    a3_0 = mac(r3, B0, a3_0);
    a3_1 = mac(r3, B1, a3_1);
    a4_0 = mac(r4, B0, a4_0);
    a4_1 = mac(r4, B1, a4_1);
    a5_0 = mac(r5, B0, a5_0);
    a5_1 = mac(r5, B1, a5_1);
    a6_0 = mac(r6, B0, a6_0);
    a6_1 = mac(r6, B1, a6_1);
    a7_0 = mac(r7, B0, a7_0);
    a7_1 = mac(r7, B1, a7_1);
  }
  store_tile(wid.z * params.dx_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dyw_v6(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let t = quad_tile(li, wid);
  let db = wid.z * params.dy_batch;
  let d0 = db + min(t.rh, M - 1u) * N;
  let d1 = db + min(t.rh + 1u, M - 1u) * N;
  let d2 = db + min(t.rh + 2u, M - 1u) * N;
  let d3 = db + min(t.rh + 3u, M - 1u) * N;
  let wb = wid.z * params.w_batch;
  let cols = min(vec4<u32>(t.ch, t.ch + 1u, t.ch + 2u, t.ch + 3u), vec4<u32>(K - 1u));
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
  var n = 0u;
  for (; n + 4u <= N; n += 4u) {
    let r = wb + n * K;
    let B0 = mat4x4<f32>(w_cols(r, cols), w_cols(r + K, cols), w_cols(r + 2u * K, cols), w_cols(r + 3u * K, cols));
    let r0 = dy4_at(d0 + n);
    let r1 = dy4_at(d1 + n);
    let r2 = dy4_at(d2 + n);
    let r3 = dy4_at(d3 + n);
    let B1 = swapY4(B0);
    let r4 = quadSwapX(r0);
    let r5 = quadSwapX(r1);
    let r6 = quadSwapX(r2);
    let r7 = quadSwapX(r3);
    a0_0 = mac(r0, B0, a0_0);
    a0_1 = mac(r0, B1, a0_1);
    a1_0 = mac(r1, B0, a1_0);
    a1_1 = mac(r1, B1, a1_1);
    a2_0 = mac(r2, B0, a2_0);
    a2_1 = mac(r2, B1, a2_1);
    a3_0 = mac(r3, B0, a3_0);
    a3_1 = mac(r3, B1, a3_1);
    a4_0 = mac(r4, B0, a4_0);
    a4_1 = mac(r4, B1, a4_1);
    a5_0 = mac(r5, B0, a5_0);
    a5_1 = mac(r5, B1, a5_1);
    a6_0 = mac(r6, B0, a6_0);
    a6_1 = mac(r6, B1, a6_1);
    a7_0 = mac(r7, B0, a7_0);
    a7_1 = mac(r7, B1, a7_1);
  }
  // N tail, one n at a time (N is uniform: every lane of a quad runs the same iterations).
  for (; n < N; n++) {
    let b = w_cols(wb + n * K, cols);
    let bo = quadSwapY(b);
    let r = vec4<f32>(dy[d0 + n], dy[d1 + n], dy[d2 + n], dy[d3 + n]);
    let ro = quadSwapX(r);
    a0_0 = fma(vec4<f32>(r.x), b, a0_0);
    a0_1 = fma(vec4<f32>(r.x), bo, a0_1);
    a1_0 = fma(vec4<f32>(r.y), b, a1_0);
    a1_1 = fma(vec4<f32>(r.y), bo, a1_1);
    a2_0 = fma(vec4<f32>(r.z), b, a2_0);
    a2_1 = fma(vec4<f32>(r.z), bo, a2_1);
    a3_0 = fma(vec4<f32>(r.w), b, a3_0);
    a3_1 = fma(vec4<f32>(r.w), bo, a3_1);
    a4_0 = fma(vec4<f32>(ro.x), b, a4_0);
    a4_1 = fma(vec4<f32>(ro.x), bo, a4_1);
    a5_0 = fma(vec4<f32>(ro.y), b, a5_0);
    a5_1 = fma(vec4<f32>(ro.y), bo, a5_1);
    a6_0 = fma(vec4<f32>(ro.z), b, a6_0);
    a6_1 = fma(vec4<f32>(ro.z), bo, a6_1);
    a7_0 = fma(vec4<f32>(ro.w), b, a7_0);
    a7_1 = fma(vec4<f32>(ro.w), bo, a7_1);
  }
  store_tile(wid.z * params.dx_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}
