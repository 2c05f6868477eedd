// The params, bindings and non-finite test of the gradient-norm kernels, shared by gradnorm.wgsl
// (version 1) and gradnorm_sg.wgsl (version 2); the math and layouts are in gradnorm.wgsl.

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

// Exponent all ones: ±Inf or NaN. A bit test, because compilers may assume floats are never NaN.
fn is_nonfinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// gradnorm_final's result from the total sum of squares and whether any chunk was non-finite.
fn store_state(sumsq: f32, any_bad: u32) {
  let scale = fparams.grad_scale;
  let norm = abs(scale) * sqrt(sumsq);
  var nonfinite = any_bad;
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
