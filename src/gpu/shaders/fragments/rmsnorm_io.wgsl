// The params, bindings and weight read of RMSNorm's kernels, shared by rmsnorm.wgsl (version 1 and
// the dw column pass) and rmsnorm_sg.wgsl (version 2); the math and layouts are in rmsnorm.wgsl.

struct ParamsF {
  N: u32,
  C: u32,
  eps: f32,
  w_f16: u32,
  w_offset: f32,
}

struct ParamsDx {
  N: u32,
  C: u32,
  w_f16: u32,
  accumulate: u32, // 1: dx += result (e.g. into the residual stream's gradient), 0: dx = result
  w_offset: f32,
}

struct ParamsDw {
  N: u32,
  C: u32,
  accumulate: u32, // 1: dw += result (gradient accumulation over micro-batches)
  _pad: u32,
}

// Row kernels: threads per workgroup (version 1: a power of two; version 2: any). Column kernel:
// WG_X x WG_Y.
override WG: u32 = 64;
override WG_X: u32 = 32;
override WG_Y: u32 = 8;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(4) var<uniform> params_f: ParamsF;

@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> params_dx: ParamsDx;

@group(0) @binding(1) var<storage, read> dy_dw: array<f32>;
@group(0) @binding(2) var<storage, read> rstd_dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<uniform> params_dw: ParamsDw;

fn weight(c: u32, is_f16: u32) -> f32 {
  if (is_f16 == 1u) {
    let pair = unpack2x16float(w[c >> 1u]);
    return select(pair.x, pair.y, (c & 1u) == 1u);
  }
  return bitcast<f32>(w[c]);
}
