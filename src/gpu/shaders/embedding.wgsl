// Embedding lookup and its deterministic backward (token and learned position embeddings).
//   table  is (V, C): fp16 packed two halves per u32 (element 2i in the low half) when
//          table_f16 == 1, else f32 (read through its bits)
//   ids    is (N) i32 token ids (or position ids); out is (N, C) f32: out[n] = table[ids[n]]
//   An id outside [0, V) reads row clamp(id, 0, V-1) (never out of bounds) and, when count_bad
//   == 1, is counted into bad[0] (one atomic integer add per bad token, so the count is exact).
// Backward (no float atomics): the CPU sorts token indices by id (it knows the ids) and uploads
//   order     (N) i32: token indices grouped by id, ascending token index within a group
//   seg_start (U+1) i32: group u is order[seg_start[u] .. seg_start[u+1])
//   uids      (U) i32: the id of group u (distinct, in range)
//   dout      (N, C) f32, dtable (V, C) f32: dtable[uids[u], c] += Σ_{k in group u} dout[order[k], c]
//   One thread per (group, channel) sums its group in a fixed order: bit-for-bit repeatable.
//   Rows of dtable whose id does not occur are left untouched (zero dtable first).
// Entry points and their bindings (uniform last):
//   embedding_forward:  table, ids, out (rw), bad (rw, atomic), params_f
//   embedding_backward: dout, order, seg_start, uids, dtable (rw), params_b
// One thread per output element; a 2-D grid (groups_x * WG threads per grid row) past 65535 groups.

struct ParamsF {
  N: u32,
  C: u32,
  V: u32,
  table_f16: u32,
  accumulate: u32, // 1: out += table row (adding position embeddings to token embeddings)
  count_bad: u32,
  row_threads: u32,
  _pad: u32,
}

struct ParamsB {
  U: u32,
  C: u32,
  row_threads: u32,
  _pad: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> bad: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> params_f: ParamsF;

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> order: array<i32>;
@group(0) @binding(2) var<storage, read> seg_start: array<i32>;
@group(0) @binding(3) var<storage, read> uids: array<i32>;
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(5) var<uniform> params_b: ParamsB;

fn table_at(e: u32, is_f16: u32) -> f32 {
  if (is_f16 == 1u) {
    let pair = unpack2x16float(table[e >> 1u]);
    return select(pair.x, pair.y, (e & 1u) == 1u);
  }
  return bitcast<f32>(table[e]);
}

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params_f;
  let i = gid.y * p.row_threads + gid.x;
  if (i >= p.N * p.C) {
    return;
  }
  let n = i / p.C;
  let c = i - n * p.C;
  let id = ids[n];
  let in_range = id >= 0 && u32(id) < p.V;
  let row = select(select(p.V - 1u, 0u, id < 0), u32(id), in_range);
  if (!in_range && c == 0u && p.count_bad == 1u) {
    atomicAdd(&bad[0], 1u);
  }
  var v = table_at(row * p.C + c, p.table_f16);
  if (p.accumulate == 1u) {
    v += out[i];
  }
  out[i] = v;
}

@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params_b;
  let i = gid.y * p.row_threads + gid.x;
  if (i >= p.U * p.C) {
    return;
  }
  let u = i / p.C;
  let c = i - u * p.C;
  var acc = 0.0;
  for (var k = seg_start[u]; k < seg_start[u + 1u]; k++) {
    acc += dout[u32(order[k]) * p.C + c];
  }
  let d = u32(uids[u]) * p.C + c;
  dtable[d] = dtable[d] + acc;
}
