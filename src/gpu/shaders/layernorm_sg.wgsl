// LayerNorm row kernels, version 2: the same math, bindings and entry point names as
// layernorm.wgsl's version 1 (see its header), with each row's sums reduced by subgroupAdd within
// subgroups and workgroup memory across them (fragments/sg_sum.wgsl): WG may be any size; no
// barrier at all when the workgroup fits in one subgroup. Needs the device's 'subgroups' feature.
// The dw/db column pass is layernorm.wgsl's. Before this file come fragments/sg_sum.wgsl and
// fragments/layernorm_io.wgsl, listed in ops/layernorm.ts.
//   layernorm_forward:     x, w, b, y (rw), mean (rw), rstd (rw), params_f     one workgroup per row
//   layernorm_backward_dx: x, w, dy, mean, rstd, dx (rw), params_dx            one workgroup per row

@compute @workgroup_size(WG)
fn layernorm_forward(
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
  let inv_c = 1.0 / f32(p.C);
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    s += x[base + c];
  }
  let m = sg_sum(s, lid, sg_lane, sg_size) * inv_c;
  // Second pass over the centred values: no cancellation when |mean| >> std.
  var v = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = x[base + c] - m;
    v = fma(d, d, v);
  }
  let r = 1.0 / sqrt(sg_sum(v, lid, sg_lane, sg_size) * inv_c + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    y[base + c] = (x[base + c] - m) * r * weight(c, p.w_f16) + bias(c, p.b_f16);
  }
  if (lid == 0u) {
    mean_out[row] = m;
    rstd_out[row] = r;
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_dx(
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
  let m = mean[row];
  let r = rstd[row];
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * weight(c, p.w_f16);
    let xhat = (x[base + c] - m) * r;
    acc += vec2<f32>(g, g * xhat);
  }
  let sums = sg_sum2(acc, lid, sg_lane, sg_size) / f32(p.C); // (mean g, mean g·xhat)
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * weight(c, p.w_f16);
    let xhat = (x[base + c] - m) * r;
    var v = r * (g - sums.x - xhat * sums.y);
    if (p.accumulate == 1u) {
      v += dx[base + c];
    }
    dx[base + c] = v;
  }
}
