// Sums over a workgroup with subgroup operations, for the row kernels' version 2 (one workgroup per
// row, WG threads, any WG): subgroupAdd within each subgroup, then the subgroups' partial sums
// through workgroup memory, added in a fixed order by every subgroup alike (a strided sum per lane
// and one more subgroupAdd), so every invocation gets the same total and the result is the same
// run after run on one adapter. Works for any subgroup
// size (never assumed: the subgroup_size builtin), a workgroup smaller than one subgroup (no
// barrier at all then), larger than one, or not a multiple of it (a partial last subgroup).
// Subgroup k is taken to be invocations [k·size, (k+1)·size) of local_invocation_index: true of
// every implementation we know, not promised by WGSL; each op checks its version 2 on the running
// adapter against the TS reference before using it (ops/rowKernels.ts), so a layout that breaks
// this is caught there and the workgroup version (fragments/wg_sum.wgsl) is used instead.
// The shader declares `override WG: u32` and passes the subgroup builtins it received. This
// fragment holds the `enable` directive, so it comes first in a shader's fragment list.
enable subgroups;

var<workgroup> sg_red: array<vec2<f32>, WG>;

// Subgroups in a workgroup of WG invocations.
fn sg_count(sg_size: u32) -> u32 {
  return (WG + sg_size - 1u) / sg_size;
}

// Two sums at once (e.g. Σ g and Σ g·xhat).
fn sg_sum2(v: vec2<f32>, lid: u32, sg_lane: u32, sg_size: u32) -> vec2<f32> {
  let part = subgroupAdd(v);
  if (WG <= sg_size) {
    return part; // one subgroup: nothing to combine
  }
  if (sg_lane == 0u) {
    sg_red[lid / sg_size] = part;
  }
  workgroupBarrier();
  let n = sg_count(sg_size);
  var total: vec2<f32>;
  if (WG % sg_size == 0u) {
    // every subgroup is full: lane j adds slots j, j + size, ... and the subgroup adds the lanes,
    // so each invocation reads n / size slots, not n (many slots: small subgroups, big workgroups)
    var mine = vec2<f32>(0.0);
    for (var k = sg_lane; k < n; k += sg_size) {
      mine += sg_red[k];
    }
    total = subgroupAdd(mine);
  } else {
    // a partial last subgroup lacks lanes: every invocation adds all slots, in order
    total = sg_red[0];
    for (var k = 1u; k < n; k++) {
      total += sg_red[k];
    }
  }
  workgroupBarrier(); // sg_red is reused by the next call
  return total;
}

fn sg_sum(v: f32, lid: u32, sg_lane: u32, sg_size: u32) -> f32 {
  return sg_sum2(vec2<f32>(v, 0.0), lid, sg_lane, sg_size).x;
}
