// Rotary position embedding, Hugging Face rotate_half layout, forward and backward.
//   x        is (N, H, D) f32 (N = B*T tokens; q or k exactly as projected and reshaped)
//   pos      is (N) i32: the position of each token (restarts per packed document); the op adds
//            params.pos_offset to each (KV-cache decode)
//   inv_freq is (R/2) f32: 1 / theta^(2i/R) rounded to f32 exactly as Hugging Face computes it
//            (or a scaled variant computed on the CPU)
//   y        is (N, H, D) f32
// R (= 2 * half_d) is the rotary dim: D, or less for partial rotary (Phi-3's partial_rotary_factor):
// only the first R dims of each head rotate, dims R .. D-1 are copied through unchanged.
// For i < R/2 the pair (x_i, x_{i+R/2}) is rotated by angle = f32(pos) * inv_freq[i] (an f32
// product, as HF does it):
//   forward  (dir =  1): y_i = x_i cos - x_{i+R/2} sin,   y_{i+R/2} = x_{i+R/2} cos + x_i sin
//   backward (dir = -1): the transpose of a rotation is the rotation by -angle
// Both scale the rotated dims by rot_scale (1, or LongRoPE's attention factor, which HF multiplies
// into cos and sin); pass-through dims are copied unscaled.
// sin/cos are computed here (Cody-Waite reduction by pi/4 in three parts, then Cephes' minimax
// polynomials) rather than with the built-ins, whose accuracy WGSL only bounds on [-pi, pi] and
// which several GPUs evaluate far less accurately for arguments in the thousands. Accurate to a
// few f32 ulps for |angle| < 6434 (positions < 6434 at any theta), degrading slowly beyond.
// One thread per (token, pair) applying the same rotation to all H heads (sin/cos cost more
// than the rotation); dispatch may be 2-D (x * y groups) for large N.

struct Params {
  H: u32,
  half_d: u32,     // R / 2 (R: rotary dim)
  count: u32,      // N * R/2 (token, pair) threads
  row_stride: u32, // threads per grid row: groups_x * WG
  pos_offset: i32,
  dir: f32,        // 1 forward, -1 backward
  head_dim: u32,   // D (>= R): the stride between heads
  rot_scale: f32,  // multiplies the rotated dims (LongRoPE attention factor; 1 otherwise)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> pos: array<i32>;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override WG: u32 = 256;

const FOUR_OVER_PI: f32 = 1.27323954473516;
// pi/4 = DP1 + DP2 + DP3; DP1 has 8 significant bits and DP2 11, so j * DP1 and j * DP2 are
// exact in f32 for octant counts j < 2^13
const DP1: f32 = 0.78515625;
const DP2: f32 = 2.4187564849853515625e-4;
const DP3: f32 = 3.77489497744594108e-8;

// (sin(a), cos(a)) in f32.
fn sin_cos(a: f32) -> vec2<f32> {
  let ax = abs(a);
  var j = u32(ax * FOUR_OVER_PI);
  var yj = f32(j);
  // map zeros to the origin: round the octant count up to even, r then lies in [-pi/4, pi/4]
  if ((j & 1u) == 1u) {
    j += 1u;
    yj += 1.0;
  }
  let r = ((ax - yj * DP1) - yj * DP2) - yj * DP3;
  let z = r * r;
  let ps = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let pc = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  // ax = quadrant * pi/2 + r
  let quadrant = (j >> 1u) & 3u;
  var sc: vec2<f32>;
  switch quadrant {
    case 0u: {
      sc = vec2<f32>(ps, pc);
    }
    case 1u: {
      sc = vec2<f32>(pc, -ps);
    }
    case 2u: {
      sc = vec2<f32>(-ps, -pc);
    }
    default: {
      sc = vec2<f32>(-pc, ps);
    }
  }
  return vec2<f32>(select(sc.x, -sc.x, a < 0.0), sc.y);
}

@compute @workgroup_size(WG)
fn rope_apply(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * params.row_stride + gid.x;
  if (idx >= params.count) {
    return;
  }
  let half_d = params.half_d;
  let i = idx % half_d;
  let n = idx / half_d;
  let angle = f32(pos[n] + params.pos_offset) * inv_freq[i];
  let sc = sin_cos(angle);
  let sn = sc.x * params.dir * params.rot_scale;
  let cs = sc.y * params.rot_scale;
  let D = params.head_dim;
  for (var h = 0u; h < params.H; h++) {
    let head = (n * params.H + h) * D;
    let base = head + i;
    let x1 = x[base];
    let x2 = x[base + half_d];
    y[base] = x1 * cs - x2 * sn;
    y[base + half_d] = x2 * cs + x1 * sn;
    // partial rotary: this thread also copies pass-through dims 2*half_d + i, + half_d, ...
    for (var j = 2u * half_d + i; j < D; j += half_d) {
      y[head + j] = x[head + j];
    }
  }
}
