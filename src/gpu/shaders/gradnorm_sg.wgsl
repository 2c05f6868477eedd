// Gradient-norm kernels, version 2: the same stages, chunks, bindings and entry point names as
// gradnorm.wgsl's version 1 (see its header), with the sums reduced by subgroupAdd within
// subgroups and workgroup memory across them (fragments/sg_sum.wgsl, added in subgroup order:
// deterministic on one adapter). The non-finite flag travels as a second sum (a count of
// invocations that saw one, exact in f32), so no atomics are needed. Needs the device's
// 'subgroups' feature. Before this file come fragments/sg_sum.wgsl and fragments/gradnorm_io.wgsl,
// listed in ops/gradNorm.ts.

@compute @workgroup_size(WG)
fn gradnorm_partial(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let w = wid.y * nwg.x + wid.x;
  let chunk = WG * PER_THREAD;
  if (w * chunk >= pparams.n) {
    return;
  }
  let base = w * chunk;
  var acc = 0.0;
  var bad = false;
  for (var j = 0u; j < PER_THREAD; j++) {
    let i = base + j * WG + tid;
    if (i < pparams.n) {
      let v = g[i];
      acc = fma(v, v, acc);
      bad = bad || is_nonfinite(v);
    }
  }
  let sums = sg_sum2(vec2<f32>(acc, select(0.0, 1.0, bad)), tid, sg_lane, sg_size);
  if (tid == 0u) {
    partials[pparams.out_offset + w] = sums.x;
    flags[pparams.out_offset + w] = select(0u, 1u, sums.y > 0.0);
  }
}

@compute @workgroup_size(WG)
fn gradnorm_final(
  @builtin(local_invocation_index) tid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  var acc = 0.0;
  var bad = 0u;
  for (var i = tid; i < fparams.count; i += WG) {
    acc += partials_in[i];
    bad |= flags_in[i];
  }
  let sums = sg_sum2(vec2<f32>(acc, select(0.0, 1.0, bad != 0u)), tid, sg_lane, sg_size);
  if (tid == 0u) {
    store_state(sums.x, select(0u, 1u, sums.y > 0.0));
  }
}
