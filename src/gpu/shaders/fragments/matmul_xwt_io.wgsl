// Parameters, bindings, loads and epilogue of y = alpha · x · Wᵀ (+ bias) (+ y), shared by
// matmul.wgsl and matmul_sg.wgsl (layouts in matmul.wgsl's header).
// x4/W2 alias x/W (same bindings) for the vec4 kernels; no entry point uses both views.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 1: add bias, 2: accumulate into y
  alpha: f32,
  x_batch: u32,
  w_batch: u32,
  y_batch: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> W2: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

fn x4_at(e: u32) -> vec4<f32> {
  return vec4<f32>(x[e], x[e + 1u], x[e + 2u], x[e + 3u]);
}

// The epilogue of every version, output (m, n): scale, bias, accumulate, bounds check.
fn store_out(ybase: u32, m: u32, n: u32, acc: f32) {
  if (m < params.M && n < params.N) {
    let i = ybase + m * params.N + n;
    var v = acc * params.alpha;
    if (FAULT) {
      v += fault_offset(m, n, params.M, params.N);
    }
    if ((params.flags & 1u) != 0u) {
      v += bias[n];
    }
    if ((params.flags & 2u) != 0u) {
      v += y[i];
    }
    y[i] = v;
  }
}
