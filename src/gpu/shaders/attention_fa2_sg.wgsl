// Causal grouped-query attention, forward, version 3: FlashAttention-2 tiles (as
// attention_fa2.wgsl, same bindings, results and masks) with each query row's online softmax
// split over G lanes of one subgroup and combined with subgroup shuffles:
//   q      is (B, Tq, Hq, D) f32; query row t sits at position q_pos0 + t
//   k, v   are (B, Tk, Hkv, D) f32; key/value row j sits at position j
//   docIds is (B * Tk) i32, read only when params.has_doc == 1 (then Tq == Tk and q_pos0 == 0)
//   out    is (B, Tq, Hq, D) f32;  lse is (B, Hq, Tq) f32 (natural log-sum-exp of scaled scores)
//   attention_fwd_v3: a workgroup is a block of BR query rows of one (b, h), G lanes per row
//     (BR * G invocations, G a power of two). The block walks its keys in tiles of BC staged in
//     workgroup memory (fragments/fa2_kv_tile.wgsl, shared with version 2); lane z of a row takes
//     the tile's keys z, z + G, ... and keeps its own online softmax over them (running max m,
//     sum l, accumulator over all D columns). After the last tile the lanes' states are merged
//     with butterflies of subgroupShuffleXor: the row max M = max_z m_z, then
//     l = sum_z l_z exp(m_z - M) and acc = sum_z acc_z exp(m_z - M). Every lane ends with the
//     same values (each butterfly step adds the same two numbers), so the result is fixed run
//     after run; it differs from version 2's in rounding only (another summation order).
// Head dims up to 128 (one lane holds a whole row, as version 2 with DS = 1).
// The G lanes of a row are taken to be G consecutive invocations of one subgroup whose
// subgroup_invocation_id agrees with local_invocation_index modulo G (true where subgroups are
// consecutive invocations and their size is a multiple of G), which WGSL does not promise: the op
// runs this version only after it matched the TS reference on this very device
// (ops/attentionFa2Sg.ts), and version 2 otherwise.
// Workgroup memory: 2 * BC * D * 4 + BC * 4 bytes (the tiles of fragments/fa2_kv_tile.wgsl).

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

const MAX_D4: u32 = 32u; // 128 dims
const MAX_BC: u32 = 32u;
// Stands for -infinity (WGSL has no infinities); a real score is never this value.
const NEG: f32 = -3.0e38;

// query rows per workgroup
override BR: u32 = 32;
// keys per tile, at most MAX_BC
override BC: u32 = 16;
// head dim / 4, at most MAX_D4
override D4: u32 = 2;
// lanes per query row: a power of two, at most the subgroup size
override G: u32 = 4;

@compute @workgroup_size(BR * G)
fn attention_fwd_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Tq = params.Tq;
  let Tk = params.Tk;
  let Hq = params.Hq;
  let Hkv = params.Hkv;
  let b = wid.y / Hq;
  let h = wid.y % Hq;
  let g = h / (Hq / Hkv);
  let t0 = wid.x * BR;
  let has_doc = params.has_doc == 1u;

  let r = lid / G;
  let z = lid % G; // this lane's share of each tile: keys z, z + G, ...
  let t = t0 + r;
  let live = t < Tq;
  let tr = min(t, Tq - 1u); // rows past Tq read a valid row, compute, and write nothing
  let qrow = ((b * Tq + tr) * Hq + h) * D4;

  // q is pre-multiplied by the scale so a score is one dot product.
  var qr: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < D4; c++) {
    qr[c] = q[qrow + c] * params.scale;
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

  var m = NEG; // this lane's running max
  var l = 0.0; // its running sum of exp(score - m)
  var s: array<f32, MAX_BC>;
  for (var j0 = bfirst; j0 <= blast; j0 += BC) {
    fa2_stage_kv(lid, BR * G, j0, blast, b, Tk, Hkv, g, has_doc);
    workgroupBarrier();

    var mb = NEG;
    var n = 0u;
    for (var jj = z; jj < BC; jj += G) {
      var sc = NEG;
      if (live && fa2_sees(j0 + jj, jj, first, last, has_doc, doc)) {
        var dv = vec4<f32>(0.0);
        for (var c = 0u; c < D4; c++) {
          dv = fma(qr[c], kt[jj * D4 + c], dv);
        }
        sc = dv.x + dv.y + dv.z + dv.w;
        mb = max(mb, sc);
      }
      s[n] = sc;
      n++;
    }
    if (mb != NEG) {
      let m_new = max(m, mb);
      let corr = select(exp(m - m_new), 0.0, m == NEG);
      l *= corr;
      for (var c = 0u; c < D4; c++) {
        acc[c] *= corr;
      }
      n = 0u;
      for (var jj = z; jj < BC; jj += G) {
        if (s[n] != NEG) {
          let p = exp(s[n] - m_new);
          l += p;
          for (var c = 0u; c < D4; c++) {
            acc[c] = fma(vec4<f32>(p), vt[jj * D4 + c], acc[c]);
          }
        }
        n++;
      }
      m = m_new;
    }
    // the next tile overwrites kt, vt and dt
    workgroupBarrier();
  }

  // merge the G lanes' softmax states (uniform control flow: every lane of the subgroup is here)
  var mt = m;
  for (var o = 1u; o < G; o <<= 1u) {
    mt = max(mt, subgroupShuffleXor(mt, o));
  }
  // a lane that saw no key contributes nothing (and exp(NEG - mt) is best not evaluated)
  let corr = select(exp(m - mt), 0.0, m == NEG);
  var lt = l * corr;
  for (var o = 1u; o < G; o <<= 1u) {
    lt += subgroupShuffleXor(lt, o);
  }
  for (var c = 0u; c < D4; c++) {
    var a = acc[c] * corr;
    for (var o = 1u; o < G; o <<= 1u) {
      a += subgroupShuffleXor(a, o);
    }
    acc[c] = a;
  }

  if (live) {
    let inv_l = 1.0 / lt;
    for (var c = z; c < D4; c += G) {
      out[qrow + c] = acc[c] * inv_l;
    }
    if (z == 0u) {
      lse[(b * Hq + h) * Tq + t] = mt + log(lt);
    }
  }
}
