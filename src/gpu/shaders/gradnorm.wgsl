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
// WG must be a power of two (tree reductions).

override WG: u32 = 256;
override PER_THREAD: u32 = 8;

struct PartialParams {
  n: u32,
  out_offset: u32,
  _pad0: u32,
  _pad1: u32,
}

struct FinalParams {
  count: u32,
  has_max: u32,
  max_norm: f32,
  grad_scale: f32,
}

struct GradState {
  norm: f32,
  clip: f32,
  nonfinite: u32,
  sumsq: f32,
}

// gradnorm_partial's bindings
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> flags: array<u32>;
@group(0) @binding(3) var<uniform> pparams: PartialParams;

// gradnorm_final's bindings (a different entry point, so the numbers may repeat)
@group(0) @binding(0) var<storage, read> partials_in: array<f32>;
@group(0) @binding(1) var<storage, read> flags_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: GradState;
@group(0) @binding(3) var<uniform> fparams: FinalParams;

var<workgroup> red: array<f32, WG>;
var<workgroup> any_bad: atomic<u32>;

// Exponent all ones: ±Inf or NaN. A bit test, because compilers may assume floats are never NaN.
fn is_nonfinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

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
    let scale = fparams.grad_scale;
    let sumsq = red[0];
    let norm = abs(scale) * sqrt(sumsq);
    var nonfinite = atomicLoad(&any_bad);
    if (nonfinite == 0u && is_nonfinite(norm)) {
      nonfinite = 2u;
    }
    var clip = 1.0;
    if (fparams.has_max == 1u) {
      clip = min(1.0, fparams.max_norm / (norm + 1e-6));
    }
    if (nonfinite != 0u) {
      clip = 0.0;
    }
    state.norm = norm;
    state.clip = clip;
    state.nonfinite = nonfinite;
    state.sumsq = scale * scale * sumsq;
  }
}
