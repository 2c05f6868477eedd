// One AdamW step over flat f32 buffers, torch.optim.AdamW semantics (its single-tensor path):
//   g  = grad · grad_scale · clip            (clip from gradnorm's state, 1 without it)
//   p  = p · (1 - lr·weight_decay)           (decoupled weight decay)
//   m  = lerp(m, g, 1 - beta1)               (torch's lerp formula, exp_avg)
//   v  = v · beta2 + ((1 - beta2) · g) · g   (exp_avg_sq)
//   p  = p + (-lr / (1 - beta1^t)) · (m / (sqrt(v) / sqrt(1 - beta2^t) + eps))
// param, grad, m, v are (n) f32 (the same flat layout); the bias corrections are computed on the
// CPU in f64, as torch does, and arrive as uniforms. state is gradnorm.wgsl's 4-word GradState;
// with use_state == 1 the gradient is multiplied by state.clip, and when skip_nonfinite == 1 a
// step whose gradients were not finite leaves param, m and v untouched (training then knows from
// the same state that this step was skipped). One thread per element; 2-D grid for large n.

struct Params {
  n: u32,
  row_elems: u32, // elements per grid row: groups_x * WG
  use_state: u32,
  skip_nonfinite: u32,
  decay: f32, // 1 - lr * weight_decay
  beta1_weight: f32, // 1 - beta1: the lerp weight
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  neg_step_size: f32, // -lr / (1 - beta1^t)
  bc2_sqrt: f32, // sqrt(1 - beta2^t)
  grad_scale: f32,
}

struct GradState {
  norm: f32,
  clip: f32,
  nonfinite: u32,
  sumsq: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<storage, read> state: GradState;
@group(0) @binding(5) var<uniform> params: Params;

override WG: u32 = 256;

// at::lerp: the formula switches at weight 0.5 to stay accurate near both ends.
fn lerp_torch(start: f32, end: f32, weight: f32) -> f32 {
  if (abs(weight) < 0.5) {
    return start + weight * (end - start);
  }
  return end - (end - start) * (1.0 - weight);
}

@compute @workgroup_size(WG)
fn adamw_v1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * params.row_elems + gid.x;
  if (i >= params.n) {
    return;
  }
  var g = grad[i] * params.grad_scale;
  if (params.use_state == 1u) {
    if (params.skip_nonfinite == 1u && state.nonfinite != 0u) {
      return;
    }
    g *= state.clip;
  }
  let p = param[i] * params.decay;
  let m = lerp_torch(exp_avg[i], g, params.beta1_weight);
  let v = exp_avg_sq[i] * params.beta2 + params.one_minus_beta2 * g * g;
  let denom = sqrt(v) / params.bc2_sqrt + params.eps;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  param[i] = p + params.neg_step_size * (m / denom);
}
