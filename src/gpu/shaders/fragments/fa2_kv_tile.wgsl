// The K/V tiles and masks of the FlashAttention-2 kernels that walk keys for a block of query
// rows (attention_fa2.wgsl, attention_fa2_bwd_dq.wgsl, attention_fa2_sg.wgsl): the tile in
// workgroup memory, how it is staged, which keys a block sees and which a row may attend.
// The shader declares `override BC: u32` (keys per tile), `override D4: u32` (head dim / 4) and
// the bindings k, v (array<vec4<f32>>, (B, Tk, Hkv, D)) and docIds (array<i32>, (B * Tk)).
// Masks (attention.wgsl): the query at position i attends key j iff first <= j <= i, where
// first = i + 1 - window with a sliding window (0 below that), and docIds agree with documents.

var<workgroup> kt: array<vec4<f32>, BC * D4>;
var<workgroup> vt: array<vec4<f32>, BC * D4>;
var<workgroup> dt: array<i32, BC>;

// Stages keys j0 .. j0 + BC - 1 of (batch b, kv head g), `threads` invocations striding from lid;
// keys past blast become zeros (document -1): the masks below never let a row see them.
// The caller puts a workgroupBarrier() after it, and another before the next tile.
fn fa2_stage_kv(lid: u32, threads: u32, j0: u32, blast: u32, b: u32, Tk: u32, Hkv: u32, g: u32, has_doc: bool) {
  for (var e = lid; e < BC * D4; e += threads) {
    let j = j0 + e / D4;
    var kv = vec4<f32>(0.0);
    var vv = vec4<f32>(0.0);
    if (j <= blast) {
      let kb = ((b * Tk + j) * Hkv + g) * D4 + e % D4;
      kv = k[kb];
      vv = v[kb];
    }
    kt[e] = kv;
    vt[e] = vv;
  }
  if (has_doc) {
    for (var e = lid; e < BC; e += threads) {
      var d = -1;
      if (j0 + e <= blast) {
        d = docIds[b * Tk + j0 + e];
      }
      dt[e] = d;
    }
  }
}

// The first key the query at position i sees (window 0: full causal attention).
fn fa2_first_key(i: u32, window: u32) -> u32 {
  if (window > 0u && i + 1u > window) {
    return i + 1u - window;
  }
  return 0u;
}

// Whether the row (first key `first`, position `last`, document `doc`) attends tile key jj at j.
fn fa2_sees(j: u32, jj: u32, first: u32, last: u32, has_doc: bool, doc: i32) -> bool {
  return j >= first && j <= last && (!has_doc || dt[jj] == doc);
}
