// Parameters, bindings, loads and epilogue of dx = alpha · dy · W (+ dx), shared by
// matmul_dyw.wgsl and matmul_dyw_sg.wgsl (layouts in matmul_dyw.wgsl's header).
// dy4/W2 alias dy/W for the vec4 kernels; no entry point uses both views.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  flags: u32, // 2: accumulate into dx
  alpha: f32,
  dy_batch: u32,
  w_batch: u32,
  dx_batch: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(0) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> W2: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn dy4_at(e: u32) -> vec4<f32> {
  return vec4<f32>(dy[e], dy[e + 1u], dy[e + 2u], dy[e + 3u]);
}

// The epilogue of every version, output (m, k): scale, accumulate, bounds check.
fn store_out(base: u32, m: u32, k: u32, acc: f32) {
  if (m < params.M && k < params.K) {
    let i = base + m * params.K + k;
    var v = acc * params.alpha;
    if (FAULT) {
      v += fault_offset(m, k, params.M, params.K);
    }
    if ((params.flags & 2u) != 0u) {
      v += dx[i];
    }
    dx[i] = v;
  }
}
