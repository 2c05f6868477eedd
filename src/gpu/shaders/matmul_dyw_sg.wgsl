// dx = alpha · dy · W (+ dx when accumulating): the quad-sharing versions of matmul_dyw.wgsl.
// Same bindings, parameters and layouts as matmul_dyw.wgsl (read its header):
//   dy (M, N) f32, W (N, K) fp16 packed (W_F16) or f32, dx (M, K) f32, batch on workgroup_id.z.
// Needs the 'subgroups' feature (quad operations); see matmul_sg.wgsl for why and how the quad is
// laid out: lane q computes the 8 x 8 tile (row 2·qy + (q >> 1), col 2·qx + (q & 1)) of its quad;
// lanes q, q ^ 1 share dy rows (quadSwapX), lanes q, q ^ 2 share W columns (quadSwapY).
//   matmul_dyw_v5: 8 x 8 outputs per thread, vec4 loads; needs N % 4 == 0 and K % 4 == 0
//   matmul_dyw_v6: 8 x 8 outputs per thread, scalar loads; any shape
// No early returns: every lane of a quad must reach the swaps.
enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 2: accumulate into dx
  alpha: f32,
  dy_batch: u32,
  w_batch: u32,
  dx_batch: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(0) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> W2: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override QX: u32 = 2;
override QY: u32 = 2;
override W_F16: bool = true;

fn w_at(e: u32) -> f32 {
  if (W_F16) {
    let pair = unpack2x16float(W[e >> 1u]);
    return select(pair.x, pair.y, (e & 1u) == 1u);
  }
  return bitcast<f32>(W[e]);
}

fn w4_vec(q: u32) -> vec4<f32> {
  if (W_F16) {
    let h = W2[q];
    return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
  }
  return vec4<f32>(bitcast<vec2<f32>>(W2[2u * q]), bitcast<vec2<f32>>(W2[2u * q + 1u]));
}

fn dy4_at(e: u32) -> vec4<f32> {
  return vec4<f32>(dy[e], dy[e + 1u], dy[e + 2u], dy[e + 3u]);
}

fn w_cols(r: u32, c: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(w_at(r + c.x), w_at(r + c.y), w_at(r + c.z), w_at(r + c.w));
}

fn mac(a: vec4<f32>, B: mat4x4<f32>, c: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(a.w), B[3], fma(vec4<f32>(a.z), B[2], fma(vec4<f32>(a.y), B[1], fma(vec4<f32>(a.x), B[0], c))));
}

fn swapY4(B: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapY(B[0]), quadSwapY(B[1]), quadSwapY(B[2]), quadSwapY(B[3]));
}

fn store_dx(base: u32, m: u32, k: u32, acc: f32) {
  if (m < params.M && k < params.K) {
    let i = base + m * params.K + k;
    var v = acc * params.alpha;
    if ((params.flags & 2u) != 0u) {
      v += dx[i];
    }
    dx[i] = v;
  }
}

fn store4(base: u32, m: u32, k: u32, v: vec4<f32>) {
  store_dx(base, m, k, v.x);
  store_dx(base, m, k + 1u, v.y);
  store_dx(base, m, k + 2u, v.z);
  store_dx(base, m, k + 3u, v.w);
}

// Rows this thread loads (mh) and gets from its partner (mo); likewise columns (kh / ko).
struct QuadTile {
  mh: u32,
  mo: u32,
  kh: u32,
  ko: u32,
}

fn quad_tile(li: u32, wid: vec3<u32>) -> QuadTile {
  let q = li & 3u;
  let qi = li >> 2u;
  let trow = wid.y * (2u * QY) + (qi / QX) * 2u + (q >> 1u);
  let tcol = wid.x * (2u * QX) + (qi % QX) * 2u + (q & 1u);
  let m0 = trow * 8u;
  let k0 = tcol * 8u;
  let mside = (q & 1u) * 4u;
  let kside = (q >> 1u) * 4u;
  return QuadTile(m0 + mside, m0 + 4u - mside, k0 + kside, k0 + 4u - kside);
}

fn store_tile(base: u32, t: QuadTile, acc: array<vec4<f32>, 16>) {
  for (var i = 0u; i < 4u; i++) {
    store4(base, t.mh + i, t.kh, acc[i * 2u]);
    store4(base, t.mh + i, t.ko, acc[i * 2u + 1u]);
    store4(base, t.mo + i, t.kh, acc[8u + i * 2u]);
    store4(base, t.mo + i, t.ko, acc[8u + i * 2u + 1u]);
  }
}

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dyw_v5(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let t = quad_tile(li, wid);
  let db = wid.z * (params.dy_batch / 4u);
  let d0 = db + min(t.mh, M - 1u) * N4;
  let d1 = db + min(t.mh + 1u, M - 1u) * N4;
  let d2 = db + min(t.mh + 2u, M - 1u) * N4;
  let d3 = db + min(t.mh + 3u, M - 1u) * N4;
  let c = wid.z * (params.w_batch / 4u) + min(t.kh / 4u, K4 - 1u);
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
  let d0 = db + min(t.mh, M - 1u) * N;
  let d1 = db + min(t.mh + 1u, M - 1u) * N;
  let d2 = db + min(t.mh + 2u, M - 1u) * N;
  let d3 = db + min(t.mh + 3u, M - 1u) * N;
  let wb = wid.z * params.w_batch;
  let cols = min(vec4<u32>(t.kh, t.kh + 1u, t.kh + 2u, t.kh + 3u), vec4<u32>(K - 1u));
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
