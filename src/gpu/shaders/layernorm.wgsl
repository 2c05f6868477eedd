// LayerNorm (GPT-2): y = (x - mean) / sqrt(var + eps) * w + b, biased variance, computed in f32.
//   x    is (N, C) f32, row-major (N = B*T tokens)
//   w, b are (C) each, fp16 packed two halves per u32 (element 2i in the low half) when
//        w_f16 / b_f16 == 1, else f32 (read through its bits)
//   y    is (N, C) f32
//   mean is (N) f32, rstd is (N) f32 = 1/sqrt(var + eps), saved by the forward for the backward
//   dy, dx are (N, C) f32; dw, db are (C) f32
// Backward, with xhat = (x - mean)·rstd and g = dy·w, per row:
//   dx_c = rstd·(g_c - mean_j(g_j) - xhat_c·mean_j(g_j·xhat_j))
//   dw_c = Σ_n dy[n,c]·xhat[n,c],  db_c = Σ_n dy[n,c]   (a separate pass over columns: no atomics)
// Entry points and their bindings (each list numbered from 0, uniform last):
//   layernorm_forward:      x, w, b, y (rw), mean (rw), rstd (rw), params_f     one workgroup per row
//   layernorm_backward_dx:  x, w, dy, mean, rstd, dx (rw), params_dx            one workgroup per row
//   layernorm_backward_dwdb: x, dy, mean, rstd, dw (rw), db (rw), params_w      WG_X cols x WG_Y row slices
// Rows use a 2-D grid of workgroups (row = wid.y * num_workgroups.x + wid.x) past 65535 rows.
// Versions of the row kernels (ops/layernorm.ts picks one): 1, this file, a tree in workgroup
// memory (fragments/wg_sum.wgsl, WG a power of two); 2, layernorm_sg.wgsl, subgroupAdd within
// subgroups and workgroup memory across them (fragments/sg_sum.wgsl). The dw/db pass is this file's.
// Before this file come fragments/wg_sum.wgsl (wg_sum, wg_sum2) and fragments/layernorm_io.wgsl
// (params, bindings, weight(), bias()), listed in ops/layernorm.ts.

var<workgroup> tile: array<vec2<f32>, WG_X * WG_Y>;

@compute @workgroup_size(WG)
fn layernorm_forward(
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
  let inv_c = 1.0 / f32(p.C);
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    s += x[base + c];
  }
  let m = wg_sum(s, lid) * inv_c;
  // Second pass over the centred values: no cancellation when |mean| >> std.
  var v = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = x[base + c] - m;
    v = fma(d, d, v);
  }
  let r = 1.0 / sqrt(wg_sum(v, lid) * inv_c + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    y[base + c] = (x[base + c] - m) * r * weight(c, p.w_f16) + bias(c, p.b_f16);
  }
  if (lid == 0u) {
    mean_out[row] = m;
    rstd_out[row] = r;
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_dx(
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
  let m = mean[row];
  let r = rstd[row];
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * weight(c, p.w_f16);
    let xhat = (x[base + c] - m) * r;
    acc += vec2<f32>(g, g * xhat);
  }
  let sums = wg_sum2(acc, lid) / f32(p.C); // (mean g, mean g·xhat)
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * weight(c, p.w_f16);
    let xhat = (x[base + c] - m) * r;
    var v = r * (g - sums.x - xhat * sums.y);
    if (p.accumulate == 1u) {
      v += dx[base + c];
    }
    dx[base + c] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn layernorm_backward_dwdb(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let p = params_w;
  let c = wid.x * WG_X + lid.x;
  // Every invocation reaches the barrier; out-of-range columns contribute nothing.
  var acc = vec2<f32>(0.0); // (dw, db)
  if (c < p.C) {
    for (var n = lid.y; n < p.N; n += WG_Y) {
      let g = dy_w[n * p.C + c];
      acc += vec2<f32>(g * (x[n * p.C + c] - mean_w[n]) * rstd_w[n], g);
    }
  }
  tile[lid.y * WG_X + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && c < p.C) {
    var total = vec2<f32>(0.0);
    for (var j = 0u; j < WG_Y; j++) {
      total += tile[j * WG_X + lid.x];
    }
    if (p.accumulate == 1u) {
      total += vec2<f32>(dw[c], db[c]);
    }
    dw[c] = total.x;
    db[c] = total.y;
  }
}
