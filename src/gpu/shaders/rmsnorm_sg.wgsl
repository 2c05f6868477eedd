// RMSNorm row kernels, version 2: the same math, bindings and entry point names as rmsnorm.wgsl's
// version 1 (see its header), with each row's sum reduced by subgroupAdd within subgroups and
// workgroup memory across them (fragments/sg_sum.wgsl): WG may be any size; no barrier at all when
// the workgroup fits in one subgroup. Needs the device's 'subgroups' feature. The dw column pass
// is rmsnorm.wgsl's. Before this file come fragments/sg_sum.wgsl and fragments/rmsnorm_io.wgsl,
// listed in ops/rmsnorm.ts.
//   rmsnorm_forward:     x, w, y (rw), rstd (rw), params_f        one workgroup per row
//   rmsnorm_backward_dx: x, w, dy, rstd, dx (rw), params_dx       one workgroup per row

@compute @workgroup_size(WG)
fn rmsnorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let p = params_f;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let base = row * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let v = x[base + c];
    ss = fma(v, v, ss);
  }
  let r = 1.0 / sqrt(sg_sum(ss, lid, sg_lane, sg_size) / f32(p.C) + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    y[base + c] = (x[base + c] * r) * (weight(c, p.w_f16) + p.w_offset);
  }
  if (lid == 0u) {
    rstd_out[row] = r;
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward_dx(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let p = params_dx;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let base = row * p.C;
  var dot = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    dot = fma(dy[base + c] * (weight(c, p.w_f16) + p.w_offset), x[base + c], dot);
  }
  let r = rstd[row];
  let k = r * r * sg_sum(dot, lid, sg_lane, sg_size) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * (weight(c, p.w_f16) + p.w_offset);
    var v = r * (g - x[base + c] * k);
    if (p.accumulate == 1u) {
      v += dx[base + c];
    }
    dx[base + c] = v;
  }
}
