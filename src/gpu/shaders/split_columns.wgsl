// Column-block copy between row-major matrices, for fused projections whose output is read in
// parts: GPT-2's c_attn gives qkv (N, 3C) = [q | k | v], attention wants q, k, v as (N, C) each.
//   copy_columns: src (N, S) f32, dst (N, W) f32:
//                 dst[n, dst_col + j] = src[n, src_col + j]   for n < N, j < cols
// Split (S = 3C -> W = C) and merge (the split's adjoint, W = 3C <- S = C) are this one kernel
// with different column offsets; the TS op checks that the block fits both rows. Elements of dst
// outside the block are left untouched. One thread per copied element (N * cols); the dispatch
// may be a 2-D grid (row_threads = groups_x * WG threads per grid row) when N * cols is large.

struct Params {
  n_rows: u32,
  cols: u32,        // columns copied per row
  src_stride: u32,  // S: elements per src row
  dst_stride: u32,  // W: elements per dst row
  src_col: u32,
  dst_col: u32,
  row_threads: u32, // threads per grid row: groups_x * WG
  _pad: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn copy_columns(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * params.row_threads + gid.x;
  if (i >= params.n_rows * params.cols) {
    return;
  }
  let n = i / params.cols;
  let j = i - n * params.cols;
  dst[n * params.dst_stride + params.dst_col + j] = src[n * params.src_stride + params.src_col + j];
}
