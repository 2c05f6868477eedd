// The adapter's FMA-only peak (bench/fmaPeak.ts), for both benchmarks' "of peak" figures.
//   out is (threads) vec4<f32>, written so that nothing is optimised away.
//   params.x = loop iterations; params.y = 1 (read at run time so m and c are not constants).
// 16 independent vec4 accumulators, 4 chained fma per accumulator per iteration, written out:
// a software adapter's per-iteration loop overhead costs about as much as the arithmetic, so the
// body is unrolled; 16 chains hide the fma latency. FLOPs per thread = iterations · 16 · 4 · 4 · 2.

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> params: vec4<u32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>) {
  let one = f32(params.y);
  let m = vec4<f32>(0.9999 * one);
  let c = vec4<f32>(1e-4 * one);
  let s = f32(gid.x) * 1e-6;
  var a0 = vec4<f32>(s);
  var a1 = vec4<f32>(s + 1.0);
  var a2 = vec4<f32>(s + 2.0);
  var a3 = vec4<f32>(s + 3.0);
  var a4 = vec4<f32>(s + 4.0);
  var a5 = vec4<f32>(s + 5.0);
  var a6 = vec4<f32>(s + 6.0);
  var a7 = vec4<f32>(s + 7.0);
  var a8 = vec4<f32>(s + 8.0);
  var a9 = vec4<f32>(s + 9.0);
  var a10 = vec4<f32>(s + 10.0);
  var a11 = vec4<f32>(s + 11.0);
  var a12 = vec4<f32>(s + 12.0);
  var a13 = vec4<f32>(s + 13.0);
  var a14 = vec4<f32>(s + 14.0);
  var a15 = vec4<f32>(s + 15.0);
  for (var i = 0u; i < params.x; i++) {
    a0 = fma(fma(fma(fma(a0, m, c), m, c), m, c), m, c);
    a1 = fma(fma(fma(fma(a1, m, c), m, c), m, c), m, c);
    a2 = fma(fma(fma(fma(a2, m, c), m, c), m, c), m, c);
    a3 = fma(fma(fma(fma(a3, m, c), m, c), m, c), m, c);
    a4 = fma(fma(fma(fma(a4, m, c), m, c), m, c), m, c);
    a5 = fma(fma(fma(fma(a5, m, c), m, c), m, c), m, c);
    a6 = fma(fma(fma(fma(a6, m, c), m, c), m, c), m, c);
    a7 = fma(fma(fma(fma(a7, m, c), m, c), m, c), m, c);
    a8 = fma(fma(fma(fma(a8, m, c), m, c), m, c), m, c);
    a9 = fma(fma(fma(fma(a9, m, c), m, c), m, c), m, c);
    a10 = fma(fma(fma(fma(a10, m, c), m, c), m, c), m, c);
    a11 = fma(fma(fma(fma(a11, m, c), m, c), m, c), m, c);
    a12 = fma(fma(fma(fma(a12, m, c), m, c), m, c), m, c);
    a13 = fma(fma(fma(fma(a13, m, c), m, c), m, c), m, c);
    a14 = fma(fma(fma(fma(a14, m, c), m, c), m, c), m, c);
    a15 = fma(fma(fma(fma(a15, m, c), m, c), m, c), m, c);
  }
  out[gid.x] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15));
}
