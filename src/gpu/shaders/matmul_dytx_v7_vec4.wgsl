// dW = alpha · dyᵀ · x (+ dW): version 7, register-tiled with workgroup-memory tiles
// (fragments/matmul_rt.wgsl), vec4 loads: the operands' contiguous dimensions must be multiples of
// 4 (the op checks). matmul_dytx_v7.wgsl is the same kernel with scalar loads: a separate module
// because one entry point may not use both views of a binding. Layouts in matmul_dytx.wgsl's
// header; dy rows are contiguous along n (the output rows), x rows along k (the output columns).
// Before this file come the fragments listed in ops/matmulShaders.ts: matmul_dytx_io.wgsl (Params,
// bindings, store_out), matmul_mac.wgsl, matmul_rt.wgsl (the kernel; WG_X, WG_Y, BK, TM, TN,
// STAGES).

const RT_G: u32 = 4u;
const RT_A_ALONG_D: bool = false;
const RT_B_ALONG_D: bool = false;

// dy[m, n .. n + 3] (n % 4 == 0)
fn rt_a(b: u32, t: u32, d: u32) -> vec4<f32> {
  return dy4[(b * params.dy_batch + d * params.N + t) / 4u];
}

// x[m, k .. k + 3] (k % 4 == 0)
fn rt_b(b: u32, t: u32, d: u32) -> vec4<f32> {
  return x4[(b * params.x_batch + d * params.K + t) / 4u];
}

fn rt_out(b: u32, r: u32, c: u32, v: f32) {
  store_out(b * params.dw_batch, r, c, v);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_dytx_v7(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  rt_main(li, wid, params.N, params.K, params.M);
}
