// The params, bindings, softmax statistics and per-row loss / gradient formulas of the
// cross-entropy kernels, shared by cross_entropy.wgsl (version 1) and cross_entropy_sg.wgsl
// (version 2); the math and layouts are in cross_entropy.wgsl.

struct Params {
  N: u32,
  V: u32,
  label_offset: u32,
  loss_offset: u32,
  smoothing: f32,
  grad_scale: f32,
  write_grad: u32,
  poison_bits: u32, // a quiet NaN's bits
}

struct SumParams {
  count: u32,
  offset: u32,
  accumulate: u32,
  scale: f32,
}

const IGNORE: i32 = -100;
const F32_LOWEST: f32 = -3.4028234663852886e38;

override WG: u32 = 256; // version 1: a power of two; version 2: any

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<uniform> params4: Params;

@group(0) @binding(0) var<storage, read_write> z_inplace: array<f32>;
@group(0) @binding(3) var<uniform> params3: Params;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> sum_out: array<f32>;
@group(0) @binding(2) var<uniform> params_sum: SumParams;

var<workgroup> row_label: i32;

// Running softmax statistics: max m, Σ exp(z - m), and Σ z (for label smoothing).
struct Stats {
  m: f32,
  s: f32,
  sz: f32,
}

fn stats_add(st: Stats, z: f32) -> Stats {
  if (z > st.m) {
    return Stats(z, st.s * exp(st.m - z) + 1.0, st.sz + z);
  }
  return Stats(st.m, st.s + exp(z - st.m), st.sz + z);
}

fn stats_merge(a: Stats, b: Stats) -> Stats {
  let m = max(a.m, b.m);
  return Stats(m, a.s * exp(a.m - m) + b.s * exp(b.m - m), a.sz + b.sz);
}

// The row's label, read once and made workgroup-uniform so that ignored rows can skip the
// reduction (and its barriers) entirely.
fn load_label(p: Params, row: u32, lid: u32) -> i32 {
  if (lid == 0u) {
    row_label = labels[p.label_offset + row];
  }
  return workgroupUniformLoad(&row_label);
}

fn label_valid(p: Params, y: i32) -> bool {
  return y >= 0 && u32(y) < p.V;
}

// Loss of a row whose label is not valid: 0 when ignored, NaN when out of range.
fn invalid_row_loss(p: Params, y: i32) -> f32 {
  return select(bitcast<f32>(p.poison_bits), 0.0, y == IGNORE);
}

fn row_loss_value(p: Params, st: Stats, zy: f32) -> f32 {
  let lse = st.m + log(st.s);
  var loss = lse - zy;
  // skipped at ε = 0 so that a -inf logit (masked token) cannot turn 0·inf into NaN
  if (p.smoothing != 0.0) {
    loss = (1.0 - p.smoothing) * loss + p.smoothing * (lse - st.sz / f32(p.V));
  }
  return loss;
}

fn grad_at(p: Params, v: u32, y: i32, z: f32, lse: f32) -> f32 {
  var tgt = p.smoothing / f32(p.V);
  if (v == u32(y)) {
    tgt += 1.0 - p.smoothing;
  }
  return (exp(z - lse) - tgt) * p.grad_scale;
}
