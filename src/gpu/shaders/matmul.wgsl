// y = x · Wᵀ (+ bias)
//   x    is (M, K) f32, row-major
//   W    is (N, K) fp16, Hugging Face nn.Linear layout, two halves per u32 (element 2i in the low half)
//   bias is (N) f32 (read only when params.has_bias == 1; bind any buffer otherwise)
//   y    is (M, N) f32
// Accumulation is f32. Numbered kernel versions, chosen by the TS op (ops/matmul.ts):
//   matmul_v1: one output per thread (the simple, obviously-right one)
//   matmul_v2: TM x TN = 4 x 4 outputs per thread from registers, no workgroup memory

struct Params {
  M: u32,
  N: u32,
  K: u32,
  has_bias: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override WG_X: u32 = 16;
override WG_Y: u32 = 16;

fn w_at(e: u32) -> f32 {
  let pair = unpack2x16float(W[e >> 1u]);
  return select(pair.x, pair.y, (e & 1u) == 1u);
}

// Four consecutive weights starting at flat element e (e + 3 must be inside W).
fn w4_at(e: u32) -> vec4<f32> {
  let i = e >> 1u;
  let a = unpack2x16float(W[i]);
  let b = unpack2x16float(W[i + 1u]);
  if ((e & 1u) == 0u) {
    return vec4<f32>(a, b);
  }
  let c = unpack2x16float(W[i + 2u]);
  return vec4<f32>(a.y, b.x, b.y, c.x);
}

fn bias_at(n: u32) -> f32 {
  if (params.has_bias == 1u) {
    return bias[n];
  }
  return 0.0;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (m >= params.M || n >= params.N) {
    return;
  }
  let K = params.K;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc = fma(x[m * K + k], w_at(n * K + k), acc);
  }
  y[m * params.N + n] = acc + bias_at(n);
}

const TM: u32 = 4u;
const TN: u32 = 4u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_v2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let n0 = gid.x * TN;
  let m0 = gid.y * TM;
  if (m0 >= M || n0 >= N) {
    return;
  }
  // Out-of-range rows/columns read a clamped (valid) row and are simply not stored.
  var xrow: array<u32, 4>;
  var wrow: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    xrow[i] = min(m0 + i, M - 1u) * K;
    wrow[i] = min(n0 + i, N - 1u) * K;
  }
  var acc: array<vec4<f32>, 4>;
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    let w0 = w4_at(wrow[0] + k);
    let w1 = w4_at(wrow[1] + k);
    let w2 = w4_at(wrow[2] + k);
    let w3 = w4_at(wrow[3] + k);
    for (var i = 0u; i < TM; i++) {
      let xv = vec4<f32>(x[xrow[i] + k], x[xrow[i] + k + 1u], x[xrow[i] + k + 2u], x[xrow[i] + k + 3u]);
      acc[i] += vec4<f32>(dot(xv, w0), dot(xv, w1), dot(xv, w2), dot(xv, w3));
    }
  }
  for (; k < K; k++) {
    let wv = vec4<f32>(w_at(wrow[0] + k), w_at(wrow[1] + k), w_at(wrow[2] + k), w_at(wrow[3] + k));
    for (var i = 0u; i < TM; i++) {
      acc[i] = fma(vec4<f32>(x[xrow[i] + k]), wv, acc[i]);
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= M) {
      break;
    }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j;
      if (n < N) {
        y[m * N + n] = acc[i][j] + bias_at(n);
      }
    }
  }
}
