// Causal grouped-query attention, backward: dq. Probabilities are recomputed from q, k and the
// saved lse (p = exp(scale * q.k - lse)) instead of being stored, so nothing (T, T) exists.
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dq       is (B, T, Hq, D) f32
// The f32 tensors of width D are bound as vec4 arrays (D = 4 * D4, D4 an override).
// Query i attends key j iff j <= i, i - window < j when params.window > 0 (sliding window), and
// docIds[j] == docIds[i] with docIds; keys outside the window are never visited.
// For query row i of head h (kv head g = h / (Hq / Hkv)), over the keys j it attends:
//   ds_j = p_j * (dout_i . v_j - delta_i);   dq_i = scale * sum_j ds_j k_j
// Numbered kernel versions (chosen by ops/attention.ts):
//   attention_bwd_dq_v1: one thread per (b, i, h) query row walking its keys; q, dout and the
//                        dq accumulator in registers (MAX_D4 vec4s, the first D4 used). Each row
//                        owns its output: no atomics, deterministic. Head dims above 128 split
//                        each row over DS = 2 threads owning D/DS columns of dq each; both
//                        compute the full dot products, reading q and dout from storage.

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  has_doc: u32,
  rows: u32,       // B * T * Hq (threads: rows * DS)
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
@group(0) @binding(6) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params;

const MAX_D4: u32 = 32u; // 128 dims per thread

override WG: u32 = 64;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per query row (1, or 2 for head dims above 128)
override DS: u32 = 1;

@compute @workgroup_size(WG)
fn attention_bwd_dq_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let tid = gid.y * params.row_stride + gid.x;
  if (tid >= params.rows * DS) {
    return;
  }
  let row = tid / DS;
  let D4S = D4 / DS; // vec4 columns of this thread's slice of dq
  let c0 = (tid % DS) * D4S;
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let h = row % Hq;
  let i = (row / Hq) % T;
  let b = row / (Hq * T);
  let g = h / (Hq / Hkv);
  let has_doc = params.has_doc == 1u;

  // q is pre-multiplied by the scale so a score is one dot product.
  var qr: array<vec4<f32>, MAX_D4>;
  var dor: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    if (DS == 1u) {
      qr[c] = q[row * D4 + c] * params.scale;
      dor[c] = dout[row * D4 + c];
    }
    acc[c] = vec4<f32>(0.0);
  }
  let lse_delta = ld[(b * Hq + h) * T + i];
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + i];
  }

  var first = 0u;
  if (params.window > 0u && i + 1u > params.window) {
    first = i + 1u - params.window;
  }
  for (var j = first; j <= i; j++) {
    if (has_doc && docIds[b * T + j] != doc) {
      continue;
    }
    let kb = ((b * T + j) * Hkv + g) * D4;
    var sv = vec4<f32>(0.0);
    var dpv = vec4<f32>(0.0);
    if (DS == 1u) {
      for (var c = 0u; c < D4; c++) {
        sv = fma(qr[c], k[kb + c], sv);
        dpv = fma(dor[c], v[kb + c], dpv);
      }
    } else {
      for (var c = 0u; c < D4; c++) {
        sv = fma(q[row * D4 + c] * params.scale, k[kb + c], sv);
        dpv = fma(dout[row * D4 + c], v[kb + c], dpv);
      }
    }
    let p = exp(sv.x + sv.y + sv.z + sv.w - lse_delta.x);
    let ds = p * (dpv.x + dpv.y + dpv.z + dpv.w - lse_delta.y);
    for (var c = 0u; c < D4S; c++) {
      acc[c] = fma(vec4<f32>(ds), k[kb + c0 + c], acc[c]);
    }
  }

  for (var c = 0u; c < D4S; c++) {
    dq[row * D4 + c0 + c] = acc[c] * params.scale;
  }
}
