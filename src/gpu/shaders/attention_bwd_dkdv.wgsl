// Causal grouped-query attention, backward: dk and dv. Probabilities are recomputed from q, k and
// the saved lse (p = exp(scale * q.k - lse)) instead of being stored, so nothing (T, T) exists.
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dk, dv   are (B, T, Hkv, D) f32
// For key row j of kv head g, over the q heads h sharing it (g * rep .. g * rep + rep - 1,
// rep = Hq / Hkv) and the queries i that attend it (i >= j, same document):
//   dv_j = sum p_ij dout_i;   dk_j = scale * sum p_ij (dout_i . v_j - delta_i) q_i
// Numbered kernel versions (chosen by ops/attention.ts):
//   attention_bwd_dkdv_v1: one thread per (b, j, g) key row walking the queries after it (a
//                          workgroup is a block of WG key rows); k, v and both accumulators in
//                          registers. Each row sums its q heads itself: no atomics, and the
//                          summation order is fixed, so results are deterministic.

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  has_doc: u32,
  rows: u32,       // B * T * Hkv
  row_stride: u32, // threads per grid row: groups_x * WG
  scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> docIds: array<i32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> ld: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

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

fn store_row(row: u32, acc: ptr<function, array<vec4<f32>, MAX_D4>>, mul: f32, to_dk: bool) {
  let D = params.D;
  let nd4 = (D + 3u) / 4u;
  for (var c = 0u; c < nd4; c++) {
    let o = (*acc)[c] * mul;
    for (var e = 0u; e < 4u; e++) {
      let d = 4u * c + e;
      if (d < D) {
        if (to_dk) {
          dk[row * D + d] = o[e];
        } else {
          dv[row * D + d] = o[e];
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn attention_bwd_dkdv_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.y * params.row_stride + gid.x;
  if (row >= params.rows) {
    return;
  }
  let D = params.D;
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let g = row % Hkv;
  let j = (row / Hkv) % T;
  let b = row / (Hkv * T);
  let rep = Hq / Hkv;
  let nd4 = (D + 3u) / 4u;
  let has_doc = params.has_doc == 1u;

  // k is pre-multiplied by the scale so a score is one dot product.
  var kr: array<vec4<f32>, MAX_D4>;
  var vr: array<vec4<f32>, MAX_D4>;
  var dk_acc: array<vec4<f32>, MAX_D4>;
  var dv_acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < nd4; c++) {
    kr[c] = ld_k(row * D, c) * params.scale;
    vr[c] = ld_v(row * D, c);
    dk_acc[c] = vec4<f32>(0.0);
    dv_acc[c] = vec4<f32>(0.0);
  }
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + j];
  }

  for (var i = j; i < T; i++) {
    if (has_doc && docIds[b * T + i] != doc) {
      continue;
    }
    for (var hh = 0u; hh < rep; hh++) {
      let h = g * rep + hh;
      let qb = ((b * T + i) * Hq + h) * D;
      var sv = vec4<f32>(0.0);
      var dpv = vec4<f32>(0.0);
      for (var c = 0u; c < nd4; c++) {
        sv = fma(ld_q(qb, c), kr[c], sv);
        dpv = fma(ld_dout(qb, c), vr[c], dpv);
      }
      let lse_delta = ld[(b * Hq + h) * T + i];
      let p = exp(hsum(sv) - lse_delta.x);
      let ds = p * (hsum(dpv) - lse_delta.y);
      for (var c = 0u; c < nd4; c++) {
        dv_acc[c] = fma(vec4<f32>(p), ld_dout(qb, c), dv_acc[c]);
        dk_acc[c] = fma(vec4<f32>(ds), ld_q(qb, c), dk_acc[c]);
      }
    }
  }

  store_row(row, &dk_acc, params.scale, true);
  store_row(row, &dv_acc, 1.0, false);
}
