// Register-tile arithmetic of the matmul family (matmul*.wgsl), shared by every kernel version.
// The shader defines the one-output epilogue its op needs:
//   fn store_out(base: u32, row: u32, col: u32, acc: f32)   scale, accumulate, bounds check, write
// and adds fault_offset there when FAULT is set.

// Test-only (MatmulVariant.fault in ops/matmulVariants.ts): the matrix's last output comes out 1
// too big, a deliberately wrong kernel for the tests of validation. False, the test folds away.
override FAULT: bool = false;

fn fault_offset(row: u32, col: u32, rows: u32, cols: u32) -> f32 {
  return select(0.0, 1.0, row + 1u == rows && col + 1u == cols);
}

// c + a.x·B[0] + a.y·B[1] + a.z·B[2] + a.w·B[3] as one fma chain: with B[t] = row t of the second
// operand's 4 x 4 block, this adds one row of the first (4 reduction values) into four outputs.
fn mac(a: vec4<f32>, B: mat4x4<f32>, c: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(a.w), B[3], fma(vec4<f32>(a.z), B[2], fma(vec4<f32>(a.y), B[1], fma(vec4<f32>(a.x), B[0], c))));
}

// Four rows of 4 values as the B of mac (B[t] = element t of each row).
fn rows4(r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>) -> mat4x4<f32> {
  return transpose(mat4x4<f32>(r0, r1, r2, r3));
}

// Four consecutive outputs of one row.
fn store4(base: u32, row: u32, col: u32, v: vec4<f32>) {
  store_out(base, row, col, v.x);
  store_out(base, row, col + 1u, v.y);
  store_out(base, row, col + 2u, v.z);
  store_out(base, row, col + 3u, v.w);
}
