// Causal grouped-query attention, backward: dq, FlashAttention-2 tiling (version 2 of
// attention_bwd_dq.wgsl; same bindings and results). Probabilities are recomputed from q, k and
// the saved lse (p = exp(scale * q.k - lse)).
//   q, dout  are (B, T, Hq, D) f32
//   k, v     are (B, T, Hkv, D) f32
//   docIds   is (B * T) i32, read only when params.has_doc == 1
//   ld       is (B, Hq, T) vec2<f32> = (lse, delta) from attention_bwd_pre.wgsl
//   dq       is (B, T, Hq, D) f32
// Query i attends key j iff j <= i, i - window < j when params.window > 0, and docIds[j] ==
// docIds[i] with docIds. For query row i of head h (kv head g = h / (Hq / Hkv)):
//   ds_j = p_j * (dout_i . v_j - delta_i);   dq_i = scale * sum_j ds_j k_j
//   attention_bwd_dq_v2: a workgroup is a block of BR query rows of one (b, h), DS threads per
//     row (each owns D/DS columns of q, dout and dq in registers); it walks the keys the block
//     sees in tiles of BC keys staged in workgroup memory (K, V, document ids). With DS = 2 the
//     partial dot products (q.k, dout.v) are exchanged through workgroup memory and summed in
//     slice order by both threads. Each row owns its dq: no atomics, fixed order, deterministic.
// Workgroup memory: 2 * BC * D * 4 + BC * 4 + 8 * ((DS - 1) * BR * BC * DS + 1) bytes.

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
@group(0) @binding(6) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params;

const MAX_D4: u32 = 32u; // 128 dims per thread
const MAX_BC: u32 = 32u;

// query rows per workgroup
override BR: u32 = 32;
// keys per tile, at most MAX_BC
override BC: u32 = 16;
// head dim / 4, at most MAX_D4 * DS
override D4: u32 = 2;
// threads per query row (1, or 2 above 128 dims)
override DS: u32 = 1;

// kt, vt, dt, fa2_stage_kv, fa2_first_key, fa2_sees: fragments/fa2_kv_tile.wgsl (listed in ops/attentionFa2.ts)
// partial (q.k, dout.v) per (row, slice, key) when DS > 1 (one unused element when DS == 1)
var<workgroup> part: array<vec2<f32>, (DS - 1u) * BR * BC * DS + 1u>;

@compute @workgroup_size(BR * DS)
fn attention_bwd_dq_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let b = wid.y / Hq;
  let h = wid.y % Hq;
  let g = h / (Hq / Hkv);
  let i0 = wid.x * BR;
  let has_doc = params.has_doc == 1u;

  let r = lid / DS;
  let sl = lid % DS;
  let D4S = D4 / DS;
  let c0 = sl * D4S;
  let i = i0 + r;
  let live = i < T;
  let ir = min(i, T - 1u);
  let qrow = ((b * T + ir) * Hq + h) * D4;

  // q is pre-multiplied by the scale so a score is one dot product.
  var qr: array<vec4<f32>, MAX_D4>;
  var dor: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4S; c++) {
    qr[c] = q[qrow + c0 + c] * params.scale;
    dor[c] = dout[qrow + c0 + c];
    acc[c] = vec4<f32>(0.0);
  }
  let lse_delta = ld[(b * Hq + h) * T + ir];
  var doc = 0;
  if (has_doc) {
    doc = docIds[b * T + ir];
  }
  let first = fa2_first_key(ir, params.window);

  // the keys any row of this block sees (workgroup-uniform)
  let blast = min(i0 + BR, T) - 1u;
  let bfirst = fa2_first_key(i0, params.window);

  var sp: array<vec2<f32>, MAX_BC>;
  for (var j0 = bfirst; j0 <= blast; j0 += BC) {
    fa2_stage_kv(lid, BR * DS, j0, blast, b, T, Hkv, g, has_doc);
    workgroupBarrier();

    for (var jj = 0u; jj < BC; jj++) {
      var sv = vec4<f32>(0.0);
      var dpv = vec4<f32>(0.0);
      for (var c = 0u; c < D4S; c++) {
        sv = fma(qr[c], kt[jj * D4 + c0 + c], sv);
        dpv = fma(dor[c], vt[jj * D4 + c0 + c], dpv);
      }
      sp[jj] = vec2<f32>(sv.x + sv.y + sv.z + sv.w, dpv.x + dpv.y + dpv.z + dpv.w);
    }
    if (DS > 1u) {
      for (var jj = 0u; jj < BC; jj++) {
        part[(r * DS + sl) * BC + jj] = sp[jj];
      }
      workgroupBarrier();
      for (var jj = 0u; jj < BC; jj++) {
        var tot = vec2<f32>(0.0);
        for (var z = 0u; z < DS; z++) {
          tot += part[(r * DS + z) * BC + jj];
        }
        sp[jj] = tot;
      }
    }

    for (var jj = 0u; jj < BC; jj++) {
      let j = j0 + jj;
      if (live && fa2_sees(j, jj, first, ir, has_doc, doc)) {
        let p = exp(sp[jj].x - lse_delta.x);
        let ds = p * (sp[jj].y - lse_delta.y);
        for (var c = 0u; c < D4S; c++) {
          acc[c] = fma(vec4<f32>(ds), kt[jj * D4 + c0 + c], acc[c]);
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    for (var c = 0u; c < D4S; c++) {
      dq[qrow + c0 + c] = acc[c] * params.scale;
    }
  }
}
