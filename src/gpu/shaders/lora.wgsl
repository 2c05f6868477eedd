// Small-rank LoRA products. Every forward and backward product of a LoRA adapter is one call of
//   C (M, P) = [C +] alpha · opA · opB          opA (M, K), opB (K, P), all f32
// where opA and opB are read through strides, so transposed operands need no copies:
//   opA[m, k] = a[m * a_sm + k * a_sk]      opB[k, p] = b[k * b_sk + p * b_sn]      C is row-major.
// The six products (ops/lora.ts), with x (N, IN), A (r, IN), B (OUT, r), u (N, r), dy (N, OUT):
//   u  = drop(x) · Aᵀ            mask on opA        dB += s · dyᵀ · u
//   y += s · u · Bᵀ                                  dA += duᵀ · drop(x)    mask on opB
//   du = s · dy · B                                  dx += mask ⊙ (du · A)  mask on C
// Dropout (PEFT's lora_dropout, applied to the adapter's input only): inverted dropout, element
// e of x (flat index n * IN + k) is kept iff (dropout_hash(seed, e) >> 8) >= drop_threshold and
// then scaled by keep_scale = 1/(1-p). drop_threshold = round(p · 2^24). The mask is never
// stored: forward and backward recompute it from (seed, e), and in every masked product the flat
// index of the x element is exactly the offset the kernel reads it from (or writes C at).
// Every output is computed by one thread with a sequential k loop: deterministic, no atomics.
// The mask mode (MASK_ON: none, opA, opB or C) is an override constant, so each product gets a
// pipeline without the untaken branches. Numbered kernel versions, chosen by the TS op:
//   lora_mm_v1: one output per thread (the simple, obviously-right one)
//   lora_mm_v2: 4 x 4 outputs per thread from registers, no workgroup memory, offsets advanced
//               by adding strides, k unrolled by 4 (SwiftShader's per-iteration and per-index
//               overheads rival the arithmetic). Forward + backward at N=512, IN=OUT=576, r=16
//               on SwiftShader (busy 2-core machine): v1 ~0.2 GFLOP/s, v2 ~0.6 GFLOP/s.

struct Params {
  M: u32,
  P: u32,
  K: u32,
  accumulate: u32, // 1: C += ..., 0: C = ...
  a_sm: u32,
  a_sk: u32,
  b_sk: u32,
  b_sn: u32,
  seed: u32,
  drop_threshold: u32,
  alpha: f32,
  keep_scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  _pad3: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override MASK_ON: u32 = 0u;

const MASK_NONE: u32 = 0u;
const MASK_A: u32 = 1u;
const MASK_B: u32 = 2u;
const MASK_C: u32 = 3u;

// PCG hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", JCGT 2020): a bijection on u32
// with good avalanche, cheap enough to recompute per element. Mirrored in ops/lora.ref.ts.
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn dropout_hash(seed: u32, e: u32) -> u32 {
  return pcg_hash(seed ^ pcg_hash(e));
}

// The factor element e of x is multiplied by: 0 (dropped) or keep_scale.
fn drop_factor(e: u32) -> f32 {
  return select(0.0, params.keep_scale, (dropout_hash(params.seed, e) >> 8u) >= params.drop_threshold);
}

fn a_at(m: u32, k: u32) -> f32 {
  let e = m * params.a_sm + k * params.a_sk;
  if (MASK_ON == MASK_A) {
    return a[e] * drop_factor(e);
  }
  return a[e];
}

fn b_at(k: u32, p: u32) -> f32 {
  let e = k * params.b_sk + p * params.b_sn;
  if (MASK_ON == MASK_B) {
    return b[e] * drop_factor(e);
  }
  return b[e];
}

fn store(m: u32, p: u32, acc: f32) {
  let e = m * params.P + p;
  var v = params.alpha * acc;
  if (MASK_ON == MASK_C) {
    v *= drop_factor(e);
  }
  if (params.accumulate == 1u) {
    v += c[e];
  }
  c[e] = v;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn lora_mm_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = gid.x;
  let m = gid.y;
  if (m >= params.M || p >= params.P) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < params.K; k++) {
    acc = fma(a_at(m, k), b_at(k, p), acc);
  }
  store(m, p, acc);
}

const TM: u32 = 4u;
const TP: u32 = 4u;

fn drop4(e: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(drop_factor(e.x), drop_factor(e.y), drop_factor(e.z), drop_factor(e.w));
}

// acc[i][j] += opA[row i, k] · opB[k, col j] for one k, at element offsets ao (4 rows) and bo (4 cols).
fn mac4(acc: ptr<function, array<vec4<f32>, 4>>, ao: vec4<u32>, bo: vec4<u32>) {
  var av = vec4<f32>(a[ao.x], a[ao.y], a[ao.z], a[ao.w]);
  var bv = vec4<f32>(b[bo.x], b[bo.y], b[bo.z], b[bo.w]);
  if (MASK_ON == MASK_A) {
    av *= drop4(ao);
  }
  if (MASK_ON == MASK_B) {
    bv *= drop4(bo);
  }
  (*acc)[0] = fma(vec4<f32>(av.x), bv, (*acc)[0]);
  (*acc)[1] = fma(vec4<f32>(av.y), bv, (*acc)[1]);
  (*acc)[2] = fma(vec4<f32>(av.z), bv, (*acc)[2]);
  (*acc)[3] = fma(vec4<f32>(av.w), bv, (*acc)[3]);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn lora_mm_v2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let P = params.P;
  let p0 = gid.x * TP;
  let m0 = gid.y * TM;
  if (m0 >= M || p0 >= P) {
    return;
  }
  let rows = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(M - 1u));
  let cols = min(vec4<u32>(p0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(P - 1u));
  var ao = rows * params.a_sm;
  var bo = cols * params.b_sn;
  let a_step = vec4<u32>(params.a_sk);
  let b_step = vec4<u32>(params.b_sk);
  var acc: array<vec4<f32>, 4>;
  var k = 0u;
  // unrolled by 4: the software adapter's per-iteration overhead is as large as the arithmetic
  for (; k + 4u <= params.K; k += 4u) {
    mac4(&acc, ao, bo);
    mac4(&acc, ao + a_step, bo + b_step);
    mac4(&acc, ao + 2u * a_step, bo + 2u * b_step);
    mac4(&acc, ao + 3u * a_step, bo + 3u * b_step);
    ao += 4u * a_step;
    bo += 4u * b_step;
  }
  for (; k < params.K; k++) {
    mac4(&acc, ao, bo);
    ao += a_step;
    bo += b_step;
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= M) {
      break;
    }
    for (var j = 0u; j < TP; j++) {
      let p = p0 + j;
      if (p < P) {
        store(m, p, acc[i][j]);
      }
    }
  }
}
