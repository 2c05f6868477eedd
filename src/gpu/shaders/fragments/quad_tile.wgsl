// The quad layout of the matmul family's quad-sharing versions v5 and v6 (matmul*_sg.wgsl; the why
// is in matmul_sg.wgsl's header). A quad of threads covers a 2 x 2 block of 8 x 8 output tiles;
// lanes q and q ^ 1 share tile rows (quadSwapX), lanes q and q ^ 2 share tile columns (quadSwapY).
// The shader defines store4 (fragments/matmul_mac.wgsl does). This fragment holds the `enable`
// directive, so it comes first in a shader's fragment list.
enable subgroups;

// Quads per workgroup along the output's columns (QX) and rows (QY); each quad covers 16 x 16 outputs.
override QX: u32 = 2;
override QY: u32 = 2;

// The thread's place in output rows and columns: rows it loads (rh .. rh + 3) and rows its partner
// loads and it gets by a swap (ro .. ro + 3); likewise columns (ch / co).
struct QuadTile {
  rh: u32,
  ro: u32,
  ch: u32,
  co: u32,
}

// Quad lane q = li & 3 (quads are 4 consecutive invocations: true on every implementation we know,
// and checked by the tuner) computes tile (row 2·qy + (q >> 1), col 2·qx + (q & 1)) of its quad.
fn quad_tile(li: u32, wid: vec3<u32>) -> QuadTile {
  let q = li & 3u;
  let qi = li >> 2u;
  let trow = wid.y * (2u * QY) + (qi / QX) * 2u + (q >> 1u);
  let tcol = wid.x * (2u * QX) + (qi % QX) * 2u + (q & 1u);
  let r0 = trow * 8u;
  let c0 = tcol * 8u;
  let rside = (q & 1u) * 4u;
  let cside = (q >> 1u) * 4u;
  return QuadTile(r0 + rside, r0 + 4u - rside, c0 + cside, c0 + 4u - cside);
}

// Stores a thread's 8 x 8 tile: acc[2i + j] is own row i (rh + i), own (j = 0) / other (j = 1)
// columns; acc[8 + 2i + j] the same for other row i (ro + i).
fn store_tile(base: u32, t: QuadTile, acc: array<vec4<f32>, 16>) {
  for (var i = 0u; i < 4u; i++) {
    store4(base, t.rh + i, t.ch, acc[i * 2u]);
    store4(base, t.rh + i, t.co, acc[i * 2u + 1u]);
    store4(base, t.ro + i, t.ch, acc[8u + i * 2u]);
    store4(base, t.ro + i, t.co, acc[8u + i * 2u + 1u]);
  }
}

// A 4 x 4 block from the partner lane along x (q ^ 1) or y (q ^ 2).
fn swapX4(A: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapX(A[0]), quadSwapX(A[1]), quadSwapX(A[2]), quadSwapX(A[3]));
}

fn swapY4(B: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadSwapY(B[0]), quadSwapY(B[1]), quadSwapY(B[2]), quadSwapY(B[3]));
}
