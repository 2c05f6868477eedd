// The register-tiled matmul of the family (version 7), shared by the three ops' v7 shaders
// (matmul_v7*.wgsl, matmul_dyw_v7*.wgsl, matmul_dytx_v7*.wgsl). In the op's own terms an output is
// C[r, c] = Σ_d A(r, d) · B(c, d) over the reduction d (xwt: A = x, B = W, d = k; dyw: A = dy,
// B = W, d = n; dytx: A = dyᵀ, B = x, d = m). A workgroup of WG_X x WG_Y threads computes a
// BM x BN block (BM = WG_Y·TM, BN = WG_X·TN): for each BK-deep slice of the reduction it stages A's
// BM x BK and B's BN x BK tiles in workgroup memory (coalesced loads: consecutive threads read
// consecutive granules along each operand's contiguous dimension), then every thread accumulates
// its TM x TN outputs in registers, in f32. A thread's outputs are strided (rows ty + i·WG_Y,
// columns tx + j·WG_X), so workgroup-memory reads and global stores are consecutive across threads.
// STAGES = 2 double-buffers the tiles: the next slice is loaded into the other buffer while this
// one is used, one barrier per slice instead of two.
//
// The shader defines:
//   const RT_G: u32            1 (scalar loads) or 4 (vec4 loads: the contiguous dims % 4 == 0)
//   const RT_A_ALONG_D: bool   A's contiguous dimension is the reduction (else its rows)
//   const RT_B_ALONG_D: bool   likewise for B (else its columns)
//   fn rt_a(b: u32, t: u32, d: u32) -> vec4<f32>   RT_G elements of A in batch b from (row t,
//                              depth d) on along its contiguous dimension (in range; the rest 0)
//   fn rt_b(b: u32, t: u32, d: u32) -> vec4<f32>   the same for B (t: the output column)
//   fn rt_out(b: u32, r: u32, c: u32, v: f32)      the epilogue (bounds checked there)
// TM, TN <= 8 (the register arrays are 8 x 8; the loops run to TM, TN, fixed per pipeline).

override WG_X: u32 = 16;
override WG_Y: u32 = 16;
override BK: u32 = 8;
override TM: u32 = 4;
override TN: u32 = 4;
override STAGES: u32 = 1;

// Tiles, depth-major: element (t, d) of stage s at s·BK·ld + d·ld + t, ld = tile width + 1 (the
// pad word spreads the column writes of along-d loads over the memory banks).
var<workgroup> rt_as: array<f32, STAGES * BK * (WG_Y * TM + 1u)>;
var<workgroup> rt_bs: array<f32, STAGES * BK * (WG_X * TN + 1u)>;

fn rt_load_a(b: u32, stage: u32, r0: u32, d0: u32, rows: u32, depth: u32, li: u32) {
  let bm = WG_Y * TM;
  let ld = bm + 1u;
  let base = stage * BK * ld;
  for (var e = li; e < bm * BK / RT_G; e += WG_X * WG_Y) {
    var t: u32;
    var d: u32;
    if (RT_A_ALONG_D) {
      t = e / (BK / RT_G);
      d = (e % (BK / RT_G)) * RT_G;
    } else {
      d = e / (bm / RT_G);
      t = (e % (bm / RT_G)) * RT_G;
    }
    var v = vec4<f32>(0.0);
    if (r0 + t < rows && d0 + d < depth) {
      v = rt_a(b, r0 + t, d0 + d);
    }
    for (var j = 0u; j < RT_G; j++) {
      if (RT_A_ALONG_D) {
        rt_as[base + (d + j) * ld + t] = v[j];
      } else {
        rt_as[base + d * ld + t + j] = v[j];
      }
    }
  }
}

fn rt_load_b(b: u32, stage: u32, c0: u32, d0: u32, cols: u32, depth: u32, li: u32) {
  let bn = WG_X * TN;
  let ld = bn + 1u;
  let base = stage * BK * ld;
  for (var e = li; e < bn * BK / RT_G; e += WG_X * WG_Y) {
    var t: u32;
    var d: u32;
    if (RT_B_ALONG_D) {
      t = e / (BK / RT_G);
      d = (e % (BK / RT_G)) * RT_G;
    } else {
      d = e / (bn / RT_G);
      t = (e % (bn / RT_G)) * RT_G;
    }
    var v = vec4<f32>(0.0);
    if (c0 + t < cols && d0 + d < depth) {
      v = rt_b(b, c0 + t, d0 + d);
    }
    for (var j = 0u; j < RT_G; j++) {
      if (RT_B_ALONG_D) {
        rt_bs[base + (d + j) * ld + t] = v[j];
      } else {
        rt_bs[base + d * ld + t + j] = v[j];
      }
    }
  }
}

// One BK-deep slice of the tiles in `stage` into the thread's TM x TN accumulators.
fn rt_mac(acc: ptr<function, array<f32, 64>>, stage: u32, tx: u32, ty: u32) {
  let lda = WG_Y * TM + 1u;
  let ldb = WG_X * TN + 1u;
  let abase = stage * BK * lda + ty;
  let bbase = stage * BK * ldb + tx;
  for (var d = 0u; d < BK; d++) {
    var a: array<f32, 8>;
    var bv: array<f32, 8>;
    for (var i = 0u; i < TM; i++) {
      a[i] = rt_as[abase + d * lda + i * WG_Y];
    }
    for (var j = 0u; j < TN; j++) {
      bv[j] = rt_bs[bbase + d * ldb + j * WG_X];
    }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) {
        (*acc)[i * TN + j] = fma(a[i], bv[j], (*acc)[i * TN + j]);
      }
    }
  }
}

// The whole kernel for workgroup `wid` (z: the batch entry), thread `li` of it.
fn rt_main(li: u32, wid: vec3<u32>, rows: u32, cols: u32, depth: u32) {
  let r0 = wid.y * (WG_Y * TM);
  let c0 = wid.x * (WG_X * TN);
  let tx = li % WG_X;
  let ty = li / WG_X;
  let b = wid.z;
  var acc: array<f32, 64>;
  let slices = (depth + BK - 1u) / BK;
  if (STAGES == 2u) {
    rt_load_a(b, 0u, r0, 0u, rows, depth, li);
    rt_load_b(b, 0u, c0, 0u, cols, depth, li);
    workgroupBarrier();
    for (var s = 0u; s < slices; s++) {
      let cur = s % 2u;
      // the other buffer was last read in slice s - 1, before the barrier that ended it
      if (s + 1u < slices) {
        rt_load_a(b, 1u - cur, r0, (s + 1u) * BK, rows, depth, li);
        rt_load_b(b, 1u - cur, c0, (s + 1u) * BK, cols, depth, li);
      }
      rt_mac(&acc, cur, tx, ty);
      workgroupBarrier();
    }
  } else {
    for (var s = 0u; s < slices; s++) {
      rt_load_a(b, 0u, r0, s * BK, rows, depth, li);
      rt_load_b(b, 0u, c0, s * BK, cols, depth, li);
      workgroupBarrier();
      rt_mac(&acc, 0u, tx, ty);
      workgroupBarrier();
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      rt_out(b, r0 + ty + i * WG_Y, c0 + tx + j * WG_X, acc[i * TN + j]);
    }
  }
}
