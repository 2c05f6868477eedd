// Cross-entropy kernels, version 2: the same math, bindings and entry point names as
// cross_entropy.wgsl's version 1 (see its header), with each row's softmax statistics reduced by
// subgroupMax / subgroupAdd within subgroups and workgroup memory across them (merged in a fixed
// order by every subgroup alike: deterministic on one adapter). WG may be any size (any subgroup size,
// a workgroup smaller or larger than a subgroup); when it fits in one subgroup the only barrier is
// the label's workgroupUniformLoad. The label's logit z_y is carried through the reduction
// (exactly: one term, the rest zeros) instead of being read by every invocation, so in place each
// invocation reads and rewrites only its own elements. Needs the device's 'subgroups' feature.
// Before this file come fragments/sg_sum.wgsl and fragments/cross_entropy_io.wgsl, listed in
// ops/crossEntropy.ts. Subgroup k is taken to be invocations [k·size, (k+1)·size) (see sg_sum.wgsl).

// The subgroups' statistics (m, s, sz, z_y), one slot per subgroup.
var<workgroup> ce_red: array<vec4<f32>, WG>;

struct RowStats {
  st: Stats,
  zy: f32,
}

fn row_stats_add(t: RowStats, z: f32, v: u32, y: u32) -> RowStats {
  return RowStats(stats_add(t.st, z), select(t.zy, z, v == y));
}

// Statistics of the invocation's elements v = lid, lid + WG, ... of the row (with z_y if y is one
// of them). Two functions because the two entry points bind different buffers at binding 0.
fn thread_stats(base: u32, V: u32, y: u32, lid: u32) -> RowStats {
  var t = RowStats(Stats(F32_LOWEST, 0.0, 0.0), 0.0);
  for (var v = lid; v < V; v += WG) {
    t = row_stats_add(t, logits[base + v], v, y);
  }
  return t;
}

fn thread_stats_inplace(base: u32, V: u32, y: u32, lid: u32) -> RowStats {
  var t = RowStats(Stats(F32_LOWEST, 0.0, 0.0), 0.0);
  for (var v = lid; v < V; v += WG) {
    t = row_stats_add(t, z_inplace[base + v], v, y);
  }
  return t;
}

fn sg_reduce(t: RowStats, lid: u32, sg_lane: u32, sg_size: u32) -> RowStats {
  let m = subgroupMax(t.st.m);
  let sums = subgroupAdd(vec3<f32>(t.st.s * exp(t.st.m - m), t.st.sz, t.zy));
  if (WG <= sg_size) {
    return RowStats(Stats(m, sums.x, sums.y), sums.z);
  }
  if (sg_lane == 0u) {
    ce_red[lid / sg_size] = vec4<f32>(m, sums);
  }
  workgroupBarrier();
  let n = sg_count(sg_size);
  if (WG % sg_size == 0u) {
    // every subgroup is full: lane j merges slots j, j + size, ..., then the subgroup merges the
    // lanes (as in fragments/sg_sum.wgsl), so each invocation reads n / size slots, not n
    var st = Stats(F32_LOWEST, 0.0, 0.0);
    var zy = 0.0;
    for (var k = sg_lane; k < n; k += sg_size) {
      let r = ce_red[k];
      st = stats_merge(st, Stats(r.x, r.y, r.z));
      zy += r.w;
    }
    let m2 = subgroupMax(st.m);
    let s2 = subgroupAdd(vec3<f32>(st.s * exp(st.m - m2), st.sz, zy));
    return RowStats(Stats(m2, s2.x, s2.y), s2.z);
  }
  // a partial last subgroup lacks lanes: every invocation merges all slots, in order
  var st = Stats(ce_red[0].x, ce_red[0].y, ce_red[0].z);
  var zy = ce_red[0].w;
  for (var k = 1u; k < n; k++) {
    let r = ce_red[k];
    st = stats_merge(st, Stats(r.x, r.y, r.z));
    zy += r.w;
  }
  return RowStats(st, zy);
}

@compute @workgroup_size(WG)
fn ce_forward_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
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
  let rs = sg_reduce(thread_stats(base, p.V, u32(y), lid), lid, sg_lane, sg_size);
  if (lid == 0u) {
    row_loss[p.loss_offset + row] = row_loss_value(p, rs.st, rs.zy);
  }
  if (p.write_grad == 1u) {
    let lse = rs.st.m + log(rs.st.s);
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
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
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
  let rs = sg_reduce(thread_stats_inplace(base, p.V, u32(y), lid), lid, sg_lane, sg_size);
  if (lid == 0u) {
    row_loss[p.loss_offset + row] = row_loss_value(p, rs.st, rs.zy);
  }
  let lse = rs.st.m + log(rs.st.s);
  // each invocation rewrites exactly the elements it read above
  for (var v = lid; v < p.V; v += WG) {
    z_inplace[base + v] = grad_at(p, v, y, z_inplace[base + v], lse);
  }
}

@compute @workgroup_size(WG)
fn ce_sum_rows(
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let p = params_sum;
  var acc = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    acc += src[p.offset + i];
  }
  let sum = sg_sum(acc, lid, sg_lane, sg_size);
  if (lid == 0u) {
    var total = p.scale * sum;
    if (p.accumulate == 1u) {
      total += sum_out[0];
    }
    sum_out[0] = total;
  }
}
