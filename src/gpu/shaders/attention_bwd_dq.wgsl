// Causal grouped-query attention, backward: dq. Probabilities are recomputed from q, k and the
// saved lse (p = exp(scale * q.k - lse)) instead of being stored, so nothing (T, T) exists.
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dq       is (B, T, Hq, D) f32
// For query row i of head h (kv head g = h / (Hq / Hkv)), over the keys j it attends:
//   ds_j = p_j * (dout_i . v_j - delta_i);   dq_i = scale * sum_j ds_j k_j
// Numbered kernel versions (chosen by ops/attention.ts):
//   attention_bwd_dq_v1: one thread per (b, i, h) query row walking its keys; q, dout and the
//                        dq accumulator in registers (MAX_D4 vec4s, D <= MAX_D). Each row owns
//                        its output: no atomics, deterministic.

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  has_doc: u32,
  rows: u32,       // B * T * Hq
  row_stride: u32, // threads per grid row: groups_x * WG
  scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> docIds: array<i32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> ld: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const MAX_D: u32 = 128u;
const MAX_D4: u32 = MAX_D / 4u;

override WG: u32 = 64;

// Four consecutive values of a row starting at element 4c; lanes at or past D read as zero.
fn ld_q(base: u32, c: u32) -> vec4<f32> {
  let d = 4u * c;
  if (d + 4u <= params.D) {
    return vec4<f32>(q[base + d], q[base + d + 1u], q[base + d + 2u], q[base + d + 3u]);
  }
  var r = vec4<f32>(0.0);
  for (var e = 0u; d + e < params.D; e++) {
    r[e] = q[base + d + e];
  }
  return r;
}

fn ld_k(base: u32, c: u32) -> vec4<f32> {
  let d = 4u * c;
  if (d + 4u <= params.D) {
    return vec4<f32>(k[base + d], k[base + d + 1u], k[base + d + 2u], k[base + d + 3u]);
  }
  var r = vec4<f32>(0.0);
  for (var e = 0u; d + e < params.D; e++) {
    r[e] = k[base + d + e];
  }
  return r;
}

fn ld_v(base: u32, c: u32) -> vec4<f32> {
  let d = 4u * c;
  if (d + 4u <= params.D) {
    return vec4<f32>(v[base + d], v[base + d + 1u], v[base + d + 2u], v[base + d + 3u]);
  }
  var r = vec4<f32>(0.0);
  for (var e = 0u; d + e < params.D; e++) {
    r[e] = v[base + d + e];
  }
  return r;
}

fn ld_dout(base: u32, c: u32) -> vec4<f32> {
  let d = 4u * c;
  if (d + 4u <= params.D) {
    return vec4<f32>(dout[base + d], dout[base + d + 1u], dout[base + d + 2u], dout[base + d + 3u]);
  }
  var r = vec4<f32>(0.0);
  for (var e = 0u; d + e < params.D; e++) {
    r[e] = dout[base + d + e];
  }
  return r;
}

fn hsum(x: vec4<f32>) -> f32 {
  return x.x + x.y + x.z + x.w;
}

@compute @workgroup_size(WG)
fn attention_bwd_dq_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.y * params.row_stride + gid.x;
  if (row >= params.rows) {
    return;
  }
  let D = params.D;
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let h = row % Hq;
  let i = (row / Hq) % T;
  let b = row / (Hq * T);
  let g = h / (Hq / Hkv);
  let nd4 = (D + 3u) / 4u;
  let has_doc = params.has_doc == 1u;

  var qr: array<vec4<f32>, MAX_D4>;
  var dor: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < nd4; c++) {
    qr[c] = ld_q(row * D, c) * params.scale;
    dor[c] = ld_dout(row * D, c);
    acc[c] = vec4<f32>(0.0);
  }
  let lse_delta = ld[(b * Hq + h) * T + i];
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + i];
  }

  for (var j = 0u; j <= i; j++) {
    if (has_doc && docIds[b * T + j] != doc) {
      continue;
    }
    let kb = ((b * T + j) * Hkv + g) * D;
    var sv = vec4<f32>(0.0);
    var dpv = vec4<f32>(0.0);
    for (var c = 0u; c < nd4; c++) {
      sv = fma(qr[c], ld_k(kb, c), sv);
      dpv = fma(dor[c], ld_v(kb, c), dpv);
    }
    let p = exp(hsum(sv) - lse_delta.x);
    let ds = p * (hsum(dpv) - lse_delta.y);
    for (var c = 0u; c < nd4; c++) {
      acc[c] = fma(vec4<f32>(ds), ld_k(kb, c), acc[c]);
    }
  }

  let ob = row * D;
  for (var c = 0u; c < nd4; c++) {
    let o = acc[c] * params.scale;
    for (var e = 0u; e < 4u; e++) {
      let d = 4u * c + e;
      if (d < D) {
        dq[ob + d] = o[e];
      }
    }
  }
}
