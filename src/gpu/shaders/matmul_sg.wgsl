// y = alpha · x · Wᵀ (+ bias) (+ y when accumulating): the quad-sharing versions of matmul.wgsl.
// Same bindings, parameters and layouts as matmul.wgsl (read its header):
//   x (M, K) f32, W (N, K) fp16 packed (W_F16) or f32, bias (N) f32, y (M, N) f32, batch on
//   workgroup_id.z with element strides x_batch / w_batch / y_batch.
// Needs the 'subgroups' feature (quad operations); the op only offers these versions when the device
// has it, and the autotuner checks each result against matmul_v1 before trusting it.
//
//   matmul_v5: 8 x 8 outputs per thread, vec4 loads; needs K % 4 == 0 (and batch strides % 4 == 0)
//   matmul_v6: 8 x 8 outputs per thread, scalar loads; any shape
//
// Why: on a CPU adapter (SwiftShader runs 4 invocations as one 4-wide SIMD quad) every load is a
// 4-lane gather and dominates the cost. A quad of threads covers a 2 x 2 block of 8 x 8 tiles; the
// two threads of a tile row need the same 8 x rows, so each loads 4 of them and gets the other 4
// from its partner with quadSwapX; W rows are shared the same way along the tile column with
// quadSwapY. Half the loads for the same arithmetic; a swap is one SIMD shuffle.
//
// Measured on SwiftShader (CPU time per lane, this project's 2-core AMD EPYC): a vec4 load ~24 cycles, a vec4
// fma ~1.7, a vec4 quad swap ~1, a quadBroadcast ~3. With the loads split across the quad, fma per
// load = sqrt(outputs per thread) = 8 here; a 16 x 16 tile (16 per load) measured no faster in
// practice (64 accumulators), so loads still cost ~2/3 of the time and the kernel runs at ~30% of
// the FMA-only peak.
//
// Quad lane q = local_invocation_index & 3 (quads are 4 consecutive invocations: true on every
// implementation we know, and checked by the tuner). Lane q computes tile (row 2·qy + (q >> 1),
// col 2·qx + (q & 1)) of its quad; lanes q and q ^ 1 share tile rows, lanes q and q ^ 2 share tile
// columns. Within a thread's 8 x 8 tile, rows "own" (rh .. rh + 3) are the ones it loads, rows
// "other" (ro .. ro + 3) come from the partner; same for columns ch / co (fragments/quad_tile.wgsl).
// No early returns: quad operations need every lane of the quad; out-of-range threads read clamped
// rows and store nothing.
// Before this file come the fragments listed in ops/matmulShaders.ts: quad_tile.wgsl (enable subgroups,
// QX, QY, QuadTile, quad_tile, store_tile), then those of matmul.wgsl.

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_v5(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let t = quad_tile(li, wid);
  let xb = wid.z * (params.x_batch / 4u);
  let wb = wid.z * (params.w_batch / 4u);
  let x0 = xb + min(t.rh, M - 1u) * K4;
  let x1 = xb + min(t.rh + 1u, M - 1u) * K4;
  let x2 = xb + min(t.rh + 2u, M - 1u) * K4;
  let x3 = xb + min(t.rh + 3u, M - 1u) * K4;
  let w0 = wb + min(t.ch, N - 1u) * K4;
  let w1 = wb + min(t.ch + 1u, N - 1u) * K4;
  let w2 = wb + min(t.ch + 2u, N - 1u) * K4;
  let w3 = wb + min(t.ch + 3u, N - 1u) * K4;
  // Accumulators named a<row>_<col half>: rows 0-3 own, 4-7 other; col half 0 own, 1 other.
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
    let b0 = w4_vec(w0 + k);
    let b1 = w4_vec(w1 + k);
    let b2 = w4_vec(w2 + k);
    let b3 = w4_vec(w3 + k);
    let r0 = x4[x0 + k];
    let r1 = x4[x1 + k];
    let r2 = x4[x2 + k];
    let r3 = x4[x3 + k];
    let B0 = rows4(b0, b1, b2, b3);
    let B1 = rows4(quadSwapY(b0), quadSwapY(b1), quadSwapY(b2), quadSwapY(b3));
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
  store_tile(wid.z * params.y_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_v6(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let t = quad_tile(li, wid);
  let xb = wid.z * params.x_batch;
  let wb = wid.z * params.w_batch;
  let x0 = xb + min(t.rh, M - 1u) * K;
  let x1 = xb + min(t.rh + 1u, M - 1u) * K;
  let x2 = xb + min(t.rh + 2u, M - 1u) * K;
  let x3 = xb + min(t.rh + 3u, M - 1u) * K;
  let w0 = wb + min(t.ch, N - 1u) * K;
  let w1 = wb + min(t.ch + 1u, N - 1u) * K;
  let w2 = wb + min(t.ch + 2u, N - 1u) * K;
  let w3 = wb + min(t.ch + 3u, N - 1u) * K;
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
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    let b0 = w4_at(w0 + k);
    let b1 = w4_at(w1 + k);
    let b2 = w4_at(w2 + k);
    let b3 = w4_at(w3 + k);
    let r0 = x4_at(x0 + k);
    let r1 = x4_at(x1 + k);
    let r2 = x4_at(x2 + k);
    let r3 = x4_at(x3 + k);
    let B0 = rows4(b0, b1, b2, b3);
    let B1 = rows4(quadSwapY(b0), quadSwapY(b1), quadSwapY(b2), quadSwapY(b3));
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
  // K tail, one column at a time (K is uniform, so every lane of a quad runs the same iterations).
  for (; k < K; k++) {
    let b = vec4<f32>(w_at(w0 + k), w_at(w1 + k), w_at(w2 + k), w_at(w3 + k));
    let bo = quadSwapY(b);
    let r = vec4<f32>(x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k]);
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
  store_tile(wid.z * params.y_batch, t, array<vec4<f32>, 16>(
    a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1,
    a4_0, a4_1, a5_0, a5_1, a6_0, a6_1, a7_0, a7_1,
  ));
}
