// Prefix tuning's two layouts of the same values (model/prefixTuning.ts), all f32:
//   table  (n, W), W = L·2·TD: PEFT's prompt_embeddings, element [r, (2l + s)·TD + c]
//   block  (2, n, TD) of layer l: its keys (s = 0) then values (s = 1), element [s, r, c]
// col0 = 2l·TD picks the layer. One thread per element of the block, i = (s·n + r)·TD + c.
// Entry points and their bindings (uniform last):
//   table_to_block: table, block (rw), params   block[i] = table[r·W + col0 + s·TD + c]
//   block_to_table: block, table (rw), params   table[r·W + col0 + s·TD + c] = block[i]
// A 2-D grid (groups_x * WG threads per grid row) past 65535 groups.

struct Params {
  n: u32,
  td: u32,
  w: u32,
  col0: u32,
  row_threads: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> src_table: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst_block: array<f32>;
@group(0) @binding(2) var<uniform> p_fwd: Params;

@group(0) @binding(0) var<storage, read> src_block: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst_table: array<f32>;
@group(0) @binding(2) var<uniform> p_bwd: Params;

// the table index of block element i
fn table_index(p: Params, i: u32) -> u32 {
  let c = i % p.td;
  let sr = i / p.td;
  let r = sr % p.n;
  let s = sr / p.n;
  return r * p.w + p.col0 + s * p.td + c;
}

@compute @workgroup_size(WG)
fn table_to_block(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = p_fwd;
  let i = gid.y * p.row_threads + gid.x;
  if (i < 2u * p.n * p.td) {
    dst_block[i] = src_table[table_index(p, i)];
  }
}

@compute @workgroup_size(WG)
fn block_to_table(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = p_bwd;
  let i = gid.y * p.row_threads + gid.x;
  if (i < 2u * p.n * p.td) {
    dst_table[table_index(p, i)] = src_block[i];
  }
}
