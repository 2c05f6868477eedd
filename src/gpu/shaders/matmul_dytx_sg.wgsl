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
enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 2: accumulate into dW
  alpha: f32,
  dy_batch: u32,
  x_batch: u32,
  dw_batch: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(0) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override QX: u32 = 2;
override QY: u32 = 2;

fn mac(a: vec4<f32>, B: mat4x4<f32>, c: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(a.w), B[3], fma(vec4<f32>(a.z), B[2], fma(vec4<f32>(a.y), B[1], fma(vec4<f32>(a.x), B[0], c))));
}

fn swapX4(A: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapX(A[0]), quadSwapX(A[1]), quadSwapX(A[2]), quadSwapX(A[3]));
}

fn swapY4(B: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapY(B[0]), quadSwapY(B[1]), quadSwapY(B[2]), quadSwapY(B[3]));
}

fn store_dw(base: u32, n: u32, k: u32, acc: f32) {
  if (n < params.N && k < params.K) {
    let i = base + n * params.K + k;
    var v = acc * params.alpha;
    if ((params.flags & 2u) != 0u) {
      v += dw[i];
    }
    dw[i] = v;
  }
}

fn store4(base: u32, n: u32, k: u32, v: vec4<f32>) {
  store_dw(base, n, k, v.x);
  store_dw(base, n, k + 1u, v.y);
  store_dw(base, n, k + 2u, v.z);
  store_dw(base, n, k + 3u, v.w);
}

// Tile rows (n) this thread loads (nh) and gets from its partner (no); likewise columns (kh / ko).
struct QuadTile {
  nh: u32,
  no: u32,
  kh: u32,
  ko: u32,
}

fn quad_tile(li: u32, wid: vec3<u32>) -> QuadTile {
  let q = li & 3u;
  let qi = li >> 2u;
  let trow = wid.y * (2u * QY) + (qi / QX) * 2u + (q >> 1u);
  let tcol = wid.x * (2u * QX) + (qi % QX) * 2u + (q & 1u);
  let n0 = trow * 8u;
  let k0 = tcol * 8u;
  let nside = (q & 1u) * 4u;
  let kside = (q >> 1u) * 4u;
  return QuadTile(n0 + nside, n0 + 4u - nside, k0 + kside, k0 + 4u - kside);
}

fn store_tile(base: u32, t: QuadTile, acc: array<vec4<f32>, 16>) {
  for (var i = 0u; i < 4u; i++) {
    store4(base, t.nh + i, t.kh, acc[i * 2u]);
    store4(base, t.nh + i, t.ko, acc[i * 2u + 1u]);
    store4(base, t.no + i, t.kh, acc[8u + i * 2u]);
    store4(base, t.no + i, t.ko, acc[8u + i * 2u + 1u]);
  }
}

@compute @workgroup_size(QX * QY * 4u, 1, 1)
fn matmul_dytx_v5(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let t = quad_tile(li, wid);
  let d = wid.z * (params.dy_batch / 4u) + min(t.nh / 4u, N4 - 1u);
  let c = wid.z * (params.x_batch / 4u) + min(t.kh / 4u, K4 - 1u);
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
  let nc = min(vec4<u32>(t.nh, t.nh + 1u, t.nh + 2u, t.nh + 3u), vec4<u32>(N - 1u)) + wid.z * params.dy_batch;
  let kc = min(vec4<u32>(t.kh, t.kh + 1u, t.kh + 2u, t.kh + 3u), vec4<u32>(K - 1u)) + wid.z * params.x_batch;
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
