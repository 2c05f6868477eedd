// dx = alpha · dy · W (+ dx): version 7, register-tiled with workgroup-memory tiles
// (fragments/matmul_rt.wgsl), scalar loads: any shape. matmul_dyw_v7_vec4.wgsl is the same kernel
// with vec4 loads: a separate module because one entry point may not use both views of a binding.
// Layouts in matmul_dyw.wgsl's header; dy rows are contiguous along n (the reduction), W rows along
// k (the output columns).
// Before this file come the fragments listed in ops/matmulShaders.ts: matmul_dyw_io.wgsl (Params,
// bindings, store_out), fp16_weights.wgsl (w_at, w4_vec), matmul_mac.wgsl, matmul_rt.wgsl (the
// kernel; WG_X, WG_Y, BK, TM, TN, STAGES).

const RT_G: u32 = 1u;
const RT_A_ALONG_D: bool = true;
const RT_B_ALONG_D: bool = false;

// A(t = m, d = n) = dy[m, n]
fn rt_a(b: u32, t: u32, d: u32) -> vec4<f32> {
  return vec4<f32>(dy[b * params.dy_batch + t * params.N + d], 0.0, 0.0, 0.0);
}

// B(t = k, d = n) = W[n, k]
fn rt_b(b: u32, t: u32, d: u32) -> vec4<f32> {
  return vec4<f32>(w_at(b * params.w_batch + d * params.K + t), 0.0, 0.0, 0.0);
}

fn rt_out(b: u32, r: u32, c: u32, v: f32) {
  store_out(b * params.dx_batch, r, c, v);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dyw_v7(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  rt_main(li, wid, params.M, params.K, params.N);
}
