// Cross-entropy fused with softmax over the vocabulary, for a chunk of rows, plus a row-sum.
//   logits    is (N, V) f32: the N rows of this chunk
//   labels    is (L) i32, L >= label_offset + N: row i's label is labels[label_offset + i];
//             -100 = ignored (loss 0, gradient 0)
//   row_loss  is (R) f32, R >= loss_offset + N: row i's loss goes to row_loss[loss_offset + i]
//   dlogits   is (N, V) f32 (or logits itself, in place)
// Per counted row, with lse = log Σ_v exp(z_v) and smoothing ε (PyTorch semantics):
//   loss = (1 - ε)·(lse - z_y) + ε·(lse - mean_v z_v)
//   dlogits_v = (softmax_v - (1 - ε)·[v == y] - ε/V) · grad_scale,  grad_scale = dloss / counted
// A label outside [0, V) other than -100 gets loss = NaN (the poison bits from the uniforms, so no
// compiler folds it away) and a zero gradient: it shows up in the one float read back per step.
// One workgroup per row: an online max/sum-of-exp over V in registers, reduced in workgroup memory
// (WG threads, a power of two), then one more pass writing the gradient. V can be 150k+.
// ce_sum_rows: out[0] = (accumulate ? out[0] : 0) + scale · Σ_{i < count} src[offset + i], one
// workgroup, fixed order (deterministic), so training reads back one float per step.
// Entry points and their bindings (uniform last):
//   ce_forward_backward:         logits, labels, row_loss (rw), dlogits (rw), params4
//                                (write_grad == 0: loss only; bind any buffer as dlogits)
//   ce_forward_backward_inplace: logits (rw; becomes dlogits), labels, row_loss (rw), params3
//   ce_sum_rows:                 src, out (rw), params_sum
// Rows use a 2-D grid of workgroups (row = wid.y * num_workgroups.x + wid.x) past 65535 rows.
// Versions (ops/crossEntropy.ts picks one): 1, this file, trees in workgroup memory (WG a power of
// two); 2, cross_entropy_sg.wgsl, subgroupMax/subgroupAdd within subgroups and workgroup memory
// across them. Before this file come fragments/wg_sum.wgsl (wg_sum) and
// fragments/cross_entropy_io.wgsl (params, bindings, Stats, the loss and gradient), listed in
// ops/crossEntropy.ts.

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;
var<workgroup> red_z: array<f32, WG>;

// Tree reduction in a fixed order (deterministic); every invocation gets the row's statistics.
fn wg_reduce(st: Stats, lid: u32) -> Stats {
  red_m[lid] = st.m;
  red_s[lid] = st.s;
  red_z[lid] = st.sz;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid < k) {
      let merged = stats_merge(Stats(red_m[lid], red_s[lid], red_z[lid]), Stats(red_m[lid + k], red_s[lid + k], red_z[lid + k]));
      red_m[lid] = merged.m;
      red_s[lid] = merged.s;
      red_z[lid] = merged.sz;
    }
    workgroupBarrier();
  }
  return Stats(red_m[0], red_s[0], red_z[0]);
}

@compute @workgroup_size(WG)
fn ce_forward_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let p = params4;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let y = load_label(p, row, lid);
  let base = row * p.V;
  if (!label_valid(p, y)) {
    if (p.write_grad == 1u) {
      for (var v = lid; v < p.V; v += WG) {
        dlogits[base + v] = 0.0;
      }
    }
    if (lid == 0u) {
      row_loss[p.loss_offset + row] = invalid_row_loss(p, y);
    }
    return;
  }
  var st = Stats(F32_LOWEST, 0.0, 0.0);
  for (var v = lid; v < p.V; v += WG) {
    st = stats_add(st, logits[base + v]);
  }
  st = wg_reduce(st, lid);
  if (lid == 0u) {
    row_loss[p.loss_offset + row] = row_loss_value(p, st, logits[base + u32(y)]);
  }
  if (p.write_grad == 1u) {
    let lse = st.m + log(st.s);
    for (var v = lid; v < p.V; v += WG) {
      dlogits[base + v] = grad_at(p, v, y, logits[base + v], lse);
    }
  }
}

@compute @workgroup_size(WG)
fn ce_forward_backward_inplace(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let p = params3;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let y = load_label(p, row, lid);
  let base = row * p.V;
  if (!label_valid(p, y)) {
    for (var v = lid; v < p.V; v += WG) {
      z_inplace[base + v] = 0.0;
    }
    if (lid == 0u) {
      row_loss[p.loss_offset + row] = invalid_row_loss(p, y);
    }
    return;
  }
  // Read the label's logit before the barriers inside wg_reduce: after them other threads
  // overwrite the row with gradients.
  let zy = z_inplace[base + u32(y)];
  var st = Stats(F32_LOWEST, 0.0, 0.0);
  for (var v = lid; v < p.V; v += WG) {
    st = stats_add(st, z_inplace[base + v]);
  }
  st = wg_reduce(st, lid);
  if (lid == 0u) {
    row_loss[p.loss_offset + row] = row_loss_value(p, st, zy);
  }
  let lse = st.m + log(st.s);
  // each thread rewrites exactly the elements it read above
  for (var v = lid; v < p.V; v += WG) {
    z_inplace[base + v] = grad_at(p, v, y, z_inplace[base + v], lse);
  }
}

@compute @workgroup_size(WG)
fn ce_sum_rows(@builtin(local_invocation_index) lid: u32) {
  let p = params_sum;
  var acc = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    acc += src[p.offset + i];
  }
  let sum = wg_sum(acc, lid);
  if (lid == 0u) {
    var total = p.scale * sum;
    if (p.accumulate == 1u) {
      total += sum_out[0];
    }
    sum_out[0] = total;
  }
}
