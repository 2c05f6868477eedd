// Causal grouped-query attention, forward, FlashAttention-style: each query row keeps a running
// max, a running sum and an output accumulator while it walks the keys in blocks of BK (online
// softmax), so no (T, T) score or probability matrix ever exists in memory.
//   q      is (B, Tq, Hq, D) f32; query row t sits at position q_pos0 + t
//   k, v   are (B, Tk, Hkv, D) f32; key/value row j sits at position j
//   docIds is (B * Tk) i32, read only when params.has_doc == 1 (then Tq == Tk and q_pos0 == 0)
//   out    is (B, Tq, Hq, D) f32
//   lse    is (B, Hq, Tq) f32: natural log-sum-exp of the scaled scores of each query row
// The f32 tensors are bound as vec4 arrays: D is a multiple of 4, D4 = D / 4 (an override, so
// the loops over the head dim have a fixed trip count and the register arrays stay registers).
// Query row t of head h (position i = q_pos0 + t) attends key j iff j <= i, and i - window < j
// when params.window > 0 (sliding window, Hugging Face's sliding_window_overlay), and
// docIds[j] == docIds[t] with docIds; through kv head h / (Hq / Hkv) (Hugging Face repeat_kv
// order). The key j == i is always allowed, so every row has at least one key and lse is finite.
// Keys before the window are never visited (the walk starts at the window's first key).
// Training calls it with Tq = Tk = T, q_pos0 = 0; KV-cache decode with Tk = the cache's Tmax and
// q_pos0 = pos.
// Numbered kernel versions (chosen by ops/attention.ts):
//   attention_fwd_v1: one thread per (b, t, h) query row; q and the accumulator in registers
//                     (arrays of MAX_D4 vec4s of which the first D4 are used), k/v rows read
//                     straight from storage (a workgroup's rows share them through the cache).
//                     Head dims above 128 (Gemma 3's 256) split each row over DS = 2 threads:
//                     each owns D/DS output columns (its accumulator slice in registers) and
//                     computes the full scores itself with q read from storage, in the same
//                     order as DS = 1, so both threads see identical probabilities.

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  Hq: u32,
  Hkv: u32,
  q_pos0: u32,
  has_doc: u32,
  rows: u32,       // B * Tq * Hq (threads: rows * DS)
  row_stride: u32, // threads per grid row: groups_x * WG (2-D grids for many rows)
  scale: f32,
  window: u32,     // sliding window in keys (0: full causal attention)
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> docIds: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// Register arrays are sized for the largest head dim slice (128 dims).
const MAX_D4: u32 = 32u;
const MAX_BK: u32 = 32u;
// Stands for -infinity (WGSL has no infinities); a real score is never this value.
const NEG: f32 = -3.0e38;

override WG: u32 = 64;
// keys per online-softmax step (one rescale of the accumulator per block); at most MAX_BK
override BK: u32 = 16;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per query row (1, or 2 for head dims above 128); each owns D4 / DS vec4 columns
override DS: u32 = 1;

@compute @workgroup_size(WG)
fn attention_fwd_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let tid = gid.y * params.row_stride + gid.x;
  if (tid >= params.rows * DS) {
    return;
  }
  let row = tid / DS;
  let D4S = D4 / DS; // vec4 columns of this thread's slice
  let c0 = (tid % DS) * D4S; // its first column
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let Tk = params.Tk;
  let h = row % Hq;
  let t = (row / Hq) % params.Tq;
  let b = row / (Hq * params.Tq);
  let g = h / (Hq / Hkv);
  let has_doc = params.has_doc == 1u;

  // q is pre-multiplied by the scale so a score is one dot product.
  var qr: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    if (DS == 1u) {
      qr[c] = q[row * D4 + c] * params.scale;
    }
    acc[c] = vec4<f32>(0.0);
  }
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * Tk + t];
  }

  let last = params.q_pos0 + t; // last key this row may see
  // first key this row may see: last - window + 1 with a window (keys before it are skipped)
  var first = 0u;
  if (params.window > 0u && last + 1u > params.window) {
    first = last + 1u - params.window;
  }
  var m = NEG; // running max of the scores seen
  var l = 0.0; // running sum of exp(score - m)
  var s: array<f32, MAX_BK>;
  for (var j0 = first; j0 <= last; j0 += BK) {
    // Fixed-length blocks (unrollable); keys past `last` are masked like other documents'.
    var mb = NEG;
    for (var jj = 0u; jj < BK; jj++) {
      let j = j0 + jj;
      var sc = NEG;
      if (j <= last && (!has_doc || docIds[b * Tk + j] == doc)) {
        let kb = ((b * Tk + j) * Hkv + g) * D4;
        var dv = vec4<f32>(0.0);
        if (DS == 1u) {
          for (var c = 0u; c < D4; c++) {
            dv = fma(qr[c], k[kb + c], dv);
          }
        } else {
          for (var c = 0u; c < D4; c++) {
            dv = fma(q[row * D4 + c] * params.scale, k[kb + c], dv);
          }
        }
        sc = dv.x + dv.y + dv.z + dv.w;
        mb = max(mb, sc);
      }
      s[jj] = sc;
    }
    if (mb == NEG) {
      continue; // every key of this block belongs to another document
    }
    let m_new = max(m, mb);
    // the first live block has nothing to rescale (and exp(NEG - m_new) is best not evaluated)
    let corr = select(exp(m - m_new), 0.0, m == NEG);
    l *= corr;
    for (var c = 0u; c < D4S; c++) {
      acc[c] *= corr;
    }
    for (var jj = 0u; jj < BK; jj++) {
      if (s[jj] != NEG) {
        let p = exp(s[jj] - m_new);
        l += p;
        let vb = ((b * Tk + j0 + jj) * Hkv + g) * D4 + c0;
        for (var c = 0u; c < D4S; c++) {
          acc[c] = fma(vec4<f32>(p), v[vb + c], acc[c]);
        }
      }
    }
    m = m_new;
  }

  let inv_l = 1.0 / l;
  for (var c = 0u; c < D4S; c++) {
    out[row * D4 + c0 + c] = acc[c] * inv_l;
  }
  if (c0 == 0u) {
    lse[(b * Hq + h) * params.Tq + t] = m + log(l);
  }
}
