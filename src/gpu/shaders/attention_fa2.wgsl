// Causal grouped-query attention, forward, FlashAttention-2 tiling (version 2 of attention.wgsl's
// forward; same inputs, outputs and masks, chosen by ops/attention.ts when legal and validated):
//   q      is (B, Tq, Hq, D) f32; query row t sits at position q_pos0 + t
//   k, v   are (B, Tk, Hkv, D) f32; key/value row j sits at position j
//   docIds is (B * Tk) i32, read only when params.has_doc == 1 (then Tq == Tk and q_pos0 == 0)
//   out    is (B, Tq, Hq, D) f32
//   lse    is (B, Hq, Tq) f32: natural log-sum-exp of the scaled scores of each query row
// The f32 tensors are bound as vec4 arrays (D = 4 * D4). Masks as in attention.wgsl: query row t
// (position i = q_pos0 + t) of head h attends key j iff j <= i, i - window < j when
// params.window > 0, and docIds[j] == docIds[t] with docIds; through kv head h / (Hq / Hkv).
//   attention_fwd_v2: a workgroup is a block of BR query rows of one (b, h), DS threads per row
//     (DS = 2 above 128 dims: each owns D/DS columns of q and of the accumulator). The workgroup
//     walks the keys its rows may see (from the window start of its first row to its last row) in
//     tiles of BC keys: each tile of K, V (and its document ids) is staged once in workgroup
//     memory and read by all BR rows. Per row an online softmax in f32: running max m, running sum
//     l, accumulator rescaled once per tile. With DS = 2 each thread computes the dot products over
//     its own columns and the partial scores are exchanged through workgroup memory, summed in the
//     same order (slice 0 + slice 1) by both threads, so both see identical probabilities.
// Workgroup memory: 2 * BC * D * 4 + BC * 4 + 4 * ((DS - 1) * BR * BC * DS + 1) bytes; the op
// picks BC per head dim to fit 16 KiB (ops/attentionFa2.ts).
// Deterministic: every sum has a fixed order; nothing is shared between workgroups.

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  Hq: u32,
  Hkv: u32,
  q_pos0: u32,
  has_doc: u32,
  scale: f32,
  window: u32, // sliding window in keys (0: full causal attention)
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> docIds: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// Register arrays hold one thread's slice of a row (at most 128 dims) and one tile's scores.
const MAX_D4: u32 = 32u;
const MAX_BC: u32 = 32u;
// Stands for -infinity (WGSL has no infinities); a real score is never this value.
const NEG: f32 = -3.0e38;

// query rows per workgroup
override BR: u32 = 32;
// keys per tile, at most MAX_BC
override BC: u32 = 16;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per query row (1, or 2 above 128 dims)
override DS: u32 = 1;

// kt, vt, dt, fa2_stage_kv, fa2_first_key, fa2_sees: fragments/fa2_kv_tile.wgsl (listed in ops/attentionFa2.ts)
// partial scores per (row, slice, key) when DS > 1 (one unused element when DS == 1)
var<workgroup> part: array<f32, (DS - 1u) * BR * BC * DS + 1u>;

@compute @workgroup_size(BR * DS)
fn attention_fwd_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Tq = params.Tq;
  let Tk = params.Tk;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let b = wid.y / Hq;
  let h = wid.y % Hq;
  let g = h / (Hq / Hkv);
  let t0 = wid.x * BR;
  let has_doc = params.has_doc == 1u;

  let r = lid / DS;
  let sl = lid % DS;
  let D4S = D4 / DS; // vec4 columns of this thread's slice
  let c0 = sl * D4S; // its first column
  let t = t0 + r;
  let live = t < Tq;
  let tr = min(t, Tq - 1u); // rows past Tq read a valid row, compute, and write nothing
  let qrow = ((b * Tq + tr) * Hq + h) * D4;

  // q is pre-multiplied by the scale so a score is one dot product.
  var qr: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    qr[c] = q[qrow + c0 + c] * params.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * Tk + tr];
  }
  let last = params.q_pos0 + tr;
  let first = fa2_first_key(last, params.window);

  // the keys any row of this block sees (workgroup-uniform, so the barriers below are legal)
  let blast = params.q_pos0 + min(t0 + BR, Tq) - 1u;
  let bfirst = fa2_first_key(params.q_pos0 + t0, params.window);

  var m = NEG; // running max of the scores seen
  var l = 0.0; // running sum of exp(score - m)
  var s: array<f32, MAX_BC>;
  for (var j0 = bfirst; j0 <= blast; j0 += BC) {
    fa2_stage_kv(lid, BR * DS, j0, blast, b, Tk, Hkv, g, has_doc);
    workgroupBarrier();

    for (var jj = 0u; jj < BC; jj++) {
      var dv = vec4<f32>(0.0);
      for (var c = 0u; c < D4S; c++) {
        dv = fma(qr[c], kt[jj * D4 + c0 + c], dv);
      }
      s[jj] = dv.x + dv.y + dv.z + dv.w;
    }
    if (DS > 1u) {
      for (var jj = 0u; jj < BC; jj++) {
        part[(r * DS + sl) * BC + jj] = s[jj];
      }
      workgroupBarrier();
      for (var jj = 0u; jj < BC; jj++) {
        var tot = 0.0;
        for (var z = 0u; z < DS; z++) {
          tot += part[(r * DS + z) * BC + jj];
        }
        s[jj] = tot;
      }
    }

    var mb = NEG;
    for (var jj = 0u; jj < BC; jj++) {
      let j = j0 + jj;
      if (live && fa2_sees(j, jj, first, last, has_doc, doc)) {
        mb = max(mb, s[jj]);
      } else {
        s[jj] = NEG;
      }
    }
    if (mb != NEG) {
      let m_new = max(m, mb);
      // the first live tile has nothing to rescale (and exp(NEG - m_new) is best not evaluated)
      let corr = select(exp(m - m_new), 0.0, m == NEG);
      l *= corr;
      for (var c = 0u; c < D4S; c++) {
        acc[c] *= corr;
      }
      for (var jj = 0u; jj < BC; jj++) {
        if (s[jj] != NEG) {
          let p = exp(s[jj] - m_new);
          l += p;
          for (var c = 0u; c < D4S; c++) {
            acc[c] = fma(vec4<f32>(p), vt[jj * D4 + c0 + c], acc[c]);
          }
        }
      }
      m = m_new;
    }
    // the next tile overwrites kt, vt, dt and part
    workgroupBarrier();
  }

  if (live) {
    let inv_l = 1.0 / l;
    for (var c = 0u; c < D4S; c++) {
      out[qrow + c0 + c] = acc[c] * inv_l;
    }
    if (sl == 0u) {
      lse[(b * Hq + h) * Tq + t] = m + log(l);
    }
  }
}
