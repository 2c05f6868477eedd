// Global gradient L2 norm over all trainable tensors, clip factor and a non-finite flag, in two
// deterministic stages (a fixed summation order, no float atomics):
//   gradnorm_partial: run once per gradient tensor g (n) f32. Workgroup w sums g² over its chunk
//     [w·CHUNK, (w+1)·CHUNK), CHUNK = WG·PER_THREAD, into partials[out_offset + w], and sets
//     flags[out_offset + w] = 1 when the chunk holds a NaN or ±Inf. Tensors get disjoint ranges.
//   gradnorm_final: one workgroup sums partials[0, count) and ORs the flags, then writes state:
//     state[0] norm      f32  grad_scale · sqrt(Σ g²)   (the norm of the gradients AdamW will see)
//     state[1] clip      f32  min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_;
//                             1 without max_norm; 0 when non-finite
//     state[2] nonfinite u32  0 finite; 1 some gradient element is NaN/Inf; 2 every element is
//                             finite but the sum of squares overflowed f32
//     state[3] sumsq     f32  grad_scale² · Σ g²
// AdamW binds state and reads clip and nonfinite from it, so no CPU readback is needed per step.
// Versions (ops/gradNorm.ts picks one): 1, this file, trees in workgroup memory (WG a power of two)
// and a workgroup atomic for the flag; 2, gradnorm_sg.wgsl, subgroupAdd within subgroups and
// workgroup memory across them. Both use the same chunks (WG·PER_THREAD elements per partial).
// Before this file comes fragments/gradnorm_io.wgsl (params, bindings, is_nonfinite), listed in
// ops/gradNorm.ts.

var<workgroup> red: array<f32, WG>;
var<workgroup> any_bad: atomic<u32>;

// Tree sum of one value per thread; the result is valid in red[0] for thread 0.
fn tree_sum(tid: u32, v: f32) {
  red[tid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      red[tid] += red[tid + s];
    }
  }
}

@compute @workgroup_size(WG)
fn gradnorm_partial(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
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
  if (bad) {
    atomicOr(&any_bad, 1u);
  }
  tree_sum(tid, acc);
  workgroupBarrier();
  if (tid == 0u) {
    partials[pparams.out_offset + w] = red[0];
    flags[pparams.out_offset + w] = atomicLoad(&any_bad);
  }
}

@compute @workgroup_size(WG)
fn gradnorm_final(@builtin(local_invocation_index) tid: u32) {
  var acc = 0.0;
  var bad = 0u;
  for (var i = tid; i < fparams.count; i += WG) {
    acc += partials_in[i];
    bad |= flags_in[i];
  }
  if (bad != 0u) {
    atomicOr(&any_bad, 1u);
  }
  tree_sum(tid, acc);
  workgroupBarrier();
  if (tid == 0u) {
    store_state(red[0], atomicLoad(&any_bad));
  }
}
