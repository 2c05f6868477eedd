// Sums over a workgroup for the row kernels (one workgroup per row, WG threads, a power of two), in
// a fixed tree order so results are deterministic; every invocation gets the total. The shader
// declares `override WG: u32`.
var<workgroup> red: array<vec2<f32>, WG>;

// Two sums at once (e.g. Σ g and Σ g·xhat).
fn wg_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // red is reused by the next call
  return total;
}

fn wg_sum(v: f32, lid: u32) -> f32 {
  return wg_sum2(vec2<f32>(v, 0.0), lid).x;
}
