// Parameters, bindings and epilogue of dW = alpha · dyᵀ · x (+ dW), shared by matmul_dytx.wgsl and
// matmul_dytx_sg.wgsl (layouts in matmul_dytx.wgsl's header).
// dy4/x4 alias dy/x for the vec4 kernels; no entry point uses both views.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 2: accumulate into dW
  alpha: f32,
  dy_batch: u32,
  x_batch: u32,
  dw_batch: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(0) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// The epilogue of every version, output (n, k): scale, accumulate, bounds check.
fn store_out(base: u32, n: u32, k: u32, acc: f32) {
  if (n < params.N && k < params.K) {
    let i = base + n * params.K + k;
    var v = acc * params.alpha;
    if (FAULT) {
      v += fault_offset(n, k, params.N, params.K);
    }
    if ((params.flags & 2u) != 0u) {
      v += dw[i];
    }
    dw[i] = v;
  }
}
