// Causal grouped-query attention, backward: dk and dv, FlashAttention-2 tiling (version 2 of
// attention_bwd_dkdv.wgsl; same bindings and results). Probabilities are recomputed from q, k and
// the saved lse (p = exp(scale * q.k - lse)).
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dk, dv   are (B, T, Hkv, D) f32
// For key row j of kv head g, over the q heads h sharing it (g * rep .. g * rep + rep - 1,
// rep = Hq / Hkv) and the queries i that attend it (i >= j, i < j + window when params.window > 0,
// same document):
//   dv_j = sum p_ij dout_i;   dk_j = scale * sum p_ij (dout_i . v_j - delta_i) q_i
//   attention_bwd_dkdv_v2: a workgroup is a block of BK key rows of one (b, g), DS threads per
//     key row (each owns D/DS columns of k, v, dk and dv in registers). It walks the queries that
//     see the block (from its first key to its last key + window) in tiles of BQ queries and, for
//     each tile, the rep q heads of the group in order: the tile's q, dout, (lse, delta) and
//     document ids are staged in workgroup memory and read by all BK key rows. With DS = 2 the
//     partial dot products are exchanged through workgroup memory and summed in slice order. Each
//     key row owns its dk, dv and sums in a fixed order: no atomics, deterministic.
// Workgroup memory: 2 * BQ * D * 4 + BQ * 12 + 8 * ((DS - 1) * BK * BQ * DS + 1) bytes.

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  has_doc: u32,
  scale: f32,
  window: u32, // sliding window in keys (0: full causal attention)
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
const MAX_BQ: u32 = 32u;

// key rows per workgroup
override BK: u32 = 32;
// queries per tile, at most MAX_BQ
override BQ: u32 = 16;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per key row (1, or 2 above 128 dims)
override DS: u32 = 1;

var<workgroup> qt: array<vec4<f32>, BQ * D4>;
var<workgroup> ot: array<vec4<f32>, BQ * D4>;
var<workgroup> ldt: array<vec2<f32>, BQ>;
var<workgroup> dt: array<i32, BQ>;
// partial (q.k, dout.v) per (key row, slice, query) when DS > 1 (one unused element when DS == 1)
var<workgroup> part: array<vec2<f32>, (DS - 1u) * BK * BQ * DS + 1u>;

@compute @workgroup_size(BK * DS)
fn attention_bwd_dkdv_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let b = wid.y / Hkv;
  let g = wid.y % Hkv;
  let rep = Hq / Hkv;
  let j0 = wid.x * BK;
  let has_doc = params.has_doc == 1u;

  let r = lid / DS;
  let sl = lid % DS;
  let D4S = D4 / DS;
  let c0 = sl * D4S;
  let j = j0 + r;
  let live = j < T;
  let jr = min(j, T - 1u);
  let krow = ((b * T + jr) * Hkv + g) * D4;

  // k is pre-multiplied by the scale so a score is one dot product.
  var kr: array<vec4<f32>, MAX_D4>;
  var vr: array<vec4<f32>, MAX_D4>;
  var dk_acc: array<vec4<f32>, MAX_D4>;
  var dv_acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    kr[c] = k[krow + c0 + c] * params.scale;
    vr[c] = v[krow + c0 + c];
    dk_acc[c] = vec4<f32>(0.0);
    dv_acc[c] = vec4<f32>(0.0);
  }
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + jr];
  }
  // one past the last query that sees key jr
  var end = T;
  if (params.window > 0u && jr + params.window < T) {
    end = jr + params.window;
  }

  // the queries that see any key of this block (workgroup-uniform)
  let jlast = min(j0 + BK, T) - 1u;
  var bend = T;
  if (params.window > 0u && jlast + params.window < T) {
    bend = jlast + params.window;
  }

  var sp: array<vec2<f32>, MAX_BQ>;
  for (var i0 = j0; i0 < bend; i0 += BQ) {
    for (var hh = 0u; hh < rep; hh++) {
      let h = g * rep + hh;
      for (var e = lid; e < BQ * D4; e += BK * DS) {
        let i = i0 + e / D4;
        var qv = vec4<f32>(0.0);
        var ov = vec4<f32>(0.0);
        if (i < bend) {
          let qb = ((b * T + i) * Hq + h) * D4 + e % D4;
          qv = q[qb];
          ov = dout[qb];
        }
        qt[e] = qv;
        ot[e] = ov;
      }
      for (var e = lid; e < BQ; e += BK * DS) {
        let i = i0 + e;
        var x = vec2<f32>(0.0);
        var d = -1;
        if (i < bend) {
          x = ld[(b * Hq + h) * T + i];
          if (has_doc) {
            d = docIds[b * T + i];
          }
        }
        ldt[e] = x;
        dt[e] = d;
      }
      workgroupBarrier();

      for (var ii = 0u; ii < BQ; ii++) {
        var sv = vec4<f32>(0.0);
        var dpv = vec4<f32>(0.0);
        for (var c = 0u; c < D4S; c++) {
          sv = fma(qt[ii * D4 + c0 + c], kr[c], sv);
          dpv = fma(ot[ii * D4 + c0 + c], vr[c], dpv);
        }
        sp[ii] = vec2<f32>(sv.x + sv.y + sv.z + sv.w, dpv.x + dpv.y + dpv.z + dpv.w);
      }
      if (DS > 1u) {
        for (var ii = 0u; ii < BQ; ii++) {
          part[(r * DS + sl) * BQ + ii] = sp[ii];
        }
        workgroupBarrier();
        for (var ii = 0u; ii < BQ; ii++) {
          var tot = vec2<f32>(0.0);
          for (var z = 0u; z < DS; z++) {
            tot += part[(r * DS + z) * BQ + ii];
          }
          sp[ii] = tot;
        }
      }

      for (var ii = 0u; ii < BQ; ii++) {
        let i = i0 + ii;
        if (live && i >= jr && i < end && (!has_doc || dt[ii] == doc)) {
          let p = exp(sp[ii].x - ldt[ii].x);
          let ds = p * (sp[ii].y - ldt[ii].y);
          for (var c = 0u; c < D4S; c++) {
            dv_acc[c] = fma(vec4<f32>(p), ot[ii * D4 + c0 + c], dv_acc[c]);
            dk_acc[c] = fma(vec4<f32>(ds), qt[ii * D4 + c0 + c], dk_acc[c]);
          }
        }
      }
      // the next tile overwrites the staged rows and part
      workgroupBarrier();
    }
  }

  if (live) {
    for (var c = 0u; c < D4S; c++) {
      dk[krow + c0 + c] = dk_acc[c] * params.scale;
      dv[krow + c0 + c] = dv_acc[c];
    }
  }
}
