// RMSNorm (Llama): y = x / sqrt(mean(x²) + eps) * (w + w_offset), computed in f32; w_offset is 0,
// or 1 for Gemma's (1 + w) (HF Gemma3RMSNorm computes 1 + w.float() in f32 from the stored w).
//   x    is (N, C) f32, row-major (N = B*T tokens)
//   w    is (C), fp16 packed two halves per u32 (element 2i in the low half) when w_f16 == 1,
//        else f32 (read through its bits), so base-model and trainable weights share one kernel
//   y    is (N, C) f32
//   rstd is (N) f32 = 1/sqrt(mean(x²) + eps), saved by the forward for the backward
//   dy, dx are (N, C) f32; dw is (C) f32
// Backward, with g = dy·(w + w_offset) and r = rstd of the row:
//   dx_c = r·(g_c - x_c · r²·(Σ_j g_j x_j)/C)
//   dw_c = Σ_n dy[n,c] · x[n,c] · r[n]     (a separate pass over columns: deterministic, no atomics)
// Entry points and their bindings (each entry point has its own list, numbered from 0, uniform last):
//   rmsnorm_forward:     x, w, y (rw), rstd (rw), params_f        one workgroup per row
//   rmsnorm_backward_dx: x, w, dy, rstd, dx (rw), params_dx       one workgroup per row
//   rmsnorm_backward_dw: x, dy, rstd, dw (rw), params_dw          WG_X columns x WG_Y row slices per workgroup
// Rows use a 2-D grid of workgroups (row = wid.y * num_workgroups.x + wid.x) past 65535 rows.
// Versions of the row kernels (ops/rmsnorm.ts picks one): 1, this file, a tree in workgroup memory
// (fragments/wg_sum.wgsl, WG a power of two); 2, rmsnorm_sg.wgsl, subgroupAdd within subgroups and
// workgroup memory across them (fragments/sg_sum.wgsl). The dw column pass is this file's in both.
// Before this file come fragments/wg_sum.wgsl and fragments/rmsnorm_io.wgsl (params, bindings,
// weight()), listed in ops/rmsnorm.ts.

var<workgroup> tile: array<f32, WG_X * WG_Y>;

@compute @workgroup_size(WG)
fn rmsnorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let p = params_f;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let base = row * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let v = x[base + c];
    ss = fma(v, v, ss);
  }
  let r = 1.0 / sqrt(wg_sum(ss, lid) / f32(p.C) + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    y[base + c] = (x[base + c] * r) * (weight(c, p.w_f16) + p.w_offset);
  }
  if (lid == 0u) {
    rstd_out[row] = r;
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward_dx(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let p = params_dx;
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.N) {
    return;
  }
  let base = row * p.C;
  var dot = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    dot = fma(dy[base + c] * (weight(c, p.w_f16) + p.w_offset), x[base + c], dot);
  }
  let r = rstd[row];
  let k = r * r * wg_sum(dot, lid) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * (weight(c, p.w_f16) + p.w_offset);
    var v = r * (g - x[base + c] * k);
    if (p.accumulate == 1u) {
      v += dx[base + c];
    }
    dx[base + c] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn rmsnorm_backward_dw(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let p = params_dw;
  let c = wid.x * WG_X + lid.x;
  // Every invocation reaches the barrier; out-of-range columns just contribute nothing.
  var acc = 0.0;
  if (c < p.C) {
    for (var n = lid.y; n < p.N; n += WG_Y) {
      acc = fma(dy_dw[n * p.C + c] * x[n * p.C + c], rstd_dw[n], acc);
    }
  }
  tile[lid.y * WG_X + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && c < p.C) {
    var total = 0.0;
    for (var j = 0u; j < WG_Y; j++) {
      total += tile[j * WG_X + lid.x];
    }
    if (p.accumulate == 1u) {
      total += dw[c];
    }
    dw[c] = total;
  }
}
