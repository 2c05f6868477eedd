// The params, bindings and weight/bias reads of LayerNorm's kernels, shared by layernorm.wgsl
// (version 1 and the dw/db column pass) and layernorm_sg.wgsl (version 2); the math and layouts
// are in layernorm.wgsl.

struct ParamsF {
  N: u32,
  C: u32,
  eps: f32,
  w_f16: u32,
  b_f16: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

struct ParamsDx {
  N: u32,
  C: u32,
  w_f16: u32,
  accumulate: u32, // 1: dx += result (e.g. into the residual stream's gradient)
}

struct ParamsW {
  N: u32,
  C: u32,
  accumulate: u32, // 1: dw += ..., db += ... (gradient accumulation over micro-batches)
  _pad: u32,
}

override WG: u32 = 64; // row kernels (version 1: a power of two; version 2: any)
override WG_X: u32 = 32;
override WG_Y: u32 = 8;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(6) var<uniform> params_f: ParamsF;

@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> params_dx: ParamsDx;

@group(0) @binding(1) var<storage, read> dy_w: array<f32>;
@group(0) @binding(2) var<storage, read> mean_w: array<f32>;
@group(0) @binding(3) var<storage, read> rstd_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;
@group(0) @binding(6) var<uniform> params_w: ParamsW;

fn unpack_at(buf_word: u32, c: u32) -> f32 {
  let pair = unpack2x16float(buf_word);
  return select(pair.x, pair.y, (c & 1u) == 1u);
}

fn weight(c: u32, is_f16: u32) -> f32 {
  if (is_f16 == 1u) {
    return unpack_at(w[c >> 1u], c);
  }
  return bitcast<f32>(w[c]);
}

fn bias(c: u32, is_f16: u32) -> f32 {
  if (is_f16 == 1u) {
    return unpack_at(b[c >> 1u], c);
  }
  return bitcast<f32>(b[c]);
}
