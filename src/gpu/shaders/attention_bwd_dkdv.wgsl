// Causal grouped-query attention, backward: dk and dv. Probabilities are recomputed from q, k and
// the saved lse (p = exp(scale * q.k - lse)) instead of being stored, so nothing (T, T) exists.
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dk, dv   are (B, T, Hkv, D) f32
// The f32 tensors of width D are bound as vec4 arrays (D = 4 * D4, D4 an override).
// For key row j of kv head g, over the q heads h sharing it (g * rep .. g * rep + rep - 1,
// rep = Hq / Hkv) and the queries i that attend it (i >= j, i < j + window when params.window > 0,
// same document; queries past the window are never visited):
//   dv_j = sum p_ij dout_i;   dk_j = scale * sum p_ij (dout_i . v_j - delta_i) q_i
// Numbered kernel versions (chosen by ops/attention.ts):
//   attention_bwd_dkdv_v1: one thread per (b, j, g) key row walking the queries after it (a
//                          workgroup is a block of WG key rows); k, v and both accumulators in
//                          registers. Each row sums its q heads itself: no atomics, and the
//                          summation order is fixed, so results are deterministic. Head dims above
//                          128 split each key row over DS = 2 threads owning D/DS columns of dk and
//                          dv each; both compute the full dot products, reading k and v from storage.

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  has_doc: u32,
  rows: u32,       // B * T * Hkv (threads: rows * DS)
  row_stride: u32, // threads per grid row: groups_x * WG
  scale: f32,
  window: u32,     // sliding window in keys (0: full causal attention)
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> docIds: array<i32>;
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> ld: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dv: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> params: Params;

const MAX_D4: u32 = 32u; // 128 dims per thread

override WG: u32 = 64;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per key row (1, or 2 for head dims above 128)
override DS: u32 = 1;

@compute @workgroup_size(WG)
fn attention_bwd_dkdv_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let tid = gid.y * params.row_stride + gid.x;
  if (tid >= params.rows * DS) {
    return;
  }
  let row = tid / DS;
  let D4S = D4 / DS; // vec4 columns of this thread's slice of dk and dv
  let c0 = (tid % DS) * D4S;
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let g = row % Hkv;
  let j = (row / Hkv) % T;
  let b = row / (Hkv * T);
  let rep = Hq / Hkv;
  let has_doc = params.has_doc == 1u;

  // k is pre-multiplied by the scale so a score is one dot product.
  var kr: array<vec4<f32>, MAX_D4>;
  var vr: array<vec4<f32>, MAX_D4>;
  var dk_acc: array<vec4<f32>, MAX_D4>;
  var dv_acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    if (DS == 1u) {
      kr[c] = k[row * D4 + c] * params.scale;
      vr[c] = v[row * D4 + c];
    }
    dk_acc[c] = vec4<f32>(0.0);
    dv_acc[c] = vec4<f32>(0.0);
  }
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + j];
  }

  // one past the last query that sees key j
  var end = T;
  if (params.window > 0u && j + params.window < T) {
    end = j + params.window;
  }
  for (var i = j; i < end; i++) {
    if (has_doc && docIds[b * T + i] != doc) {
      continue;
    }
    for (var hh = 0u; hh < rep; hh++) {
      let h = g * rep + hh;
      let qb = ((b * T + i) * Hq + h) * D4;
      var sv = vec4<f32>(0.0);
      var dpv = vec4<f32>(0.0);
      if (DS == 1u) {
        for (var c = 0u; c < D4; c++) {
          sv = fma(q[qb + c], kr[c], sv);
          dpv = fma(dout[qb + c], vr[c], dpv);
        }
      } else {
        for (var c = 0u; c < D4; c++) {
          sv = fma(q[qb + c], k[row * D4 + c] * params.scale, sv);
          dpv = fma(dout[qb + c], v[row * D4 + c], dpv);
        }
      }
      let lse_delta = ld[(b * Hq + h) * T + i];
      let p = exp(sv.x + sv.y + sv.z + sv.w - lse_delta.x);
      let ds = p * (dpv.x + dpv.y + dpv.z + dpv.w - lse_delta.y);
      for (var c = 0u; c < D4S; c++) {
        dv_acc[c] = fma(vec4<f32>(p), dout[qb + c0 + c], dv_acc[c]);
        dk_acc[c] = fma(vec4<f32>(ds), q[qb + c0 + c], dk_acc[c]);
      }
    }
  }

  for (var c = 0u; c < D4S; c++) {
    dk[row * D4 + c0 + c] = dk_acc[c] * params.scale;
    dv[row * D4 + c0 + c] = dv_acc[c];
  }
}
