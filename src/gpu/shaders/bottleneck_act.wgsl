// The small MLPs' non-linearity: the bottleneck adapter's (AdapterHub adapters: seq_bn "relu",
// double_seq_bn "swish" = SiLU) and prefix tuning's reparameterisation MLP (PEFT PrefixEncoder:
// Tanh), all f32, selected by the ACT override (0 relu, 1 swish, 2 tanh):
//   relu:   a = max(z, 0)            da/dz = 1 if z > 0 else 0 (torch's relu backward at 0: 0)
//   swish:  a = z·σ(z)               da/dz = σ(z)·(1 + z·(1 - σ(z)))
//   tanh:   a = tanh(z)              da/dz = 1 - tanh(z)²
//   z, a, da, dz are (N, r) f32 (only the element count matters)
// Entry points and their bindings (uniform last):
//   bn_act_forward:  z, a (rw), params2
//   bn_act_backward: z, da, dz (rw), params3
// One thread per element; a 2-D grid (groups_x * WG threads per grid row) past 65535 groups.

struct Params {
  n: u32,
  row_threads: u32, // threads per grid row: groups_x * WG
}

override WG: u32 = 256;
override ACT: u32 = 0u;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<uniform> params2: Params;

@group(0) @binding(1) var<storage, read> da: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<uniform> params3: Params;

// σ(v) without overflow: exp of a non-positive argument only
// tanh(v) = sign(v)·(1 - e)/(1 + e) with e = exp(-2|v|) ≤ 1: no overflow for large |v|
fn tanh_safe(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

fn sigmoid(v: f32) -> f32 {
  if (v >= 0.0) {
    return 1.0 / (1.0 + exp(-v));
  }
  let e = exp(v);
  return e / (1.0 + e);
}

@compute @workgroup_size(WG)
fn bn_act_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params2;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let v = z[i];
    if (ACT == 0u) {
      a[i] = max(v, 0.0);
    } else if (ACT == 1u) {
      a[i] = v * sigmoid(v);
    } else {
      a[i] = tanh_safe(v);
    }
  }
}

@compute @workgroup_size(WG)
fn bn_act_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params3;
  let i = gid.y * p.row_threads + gid.x;
  if (i < p.n) {
    let v = z[i];
    var slope = 0.0;
    if (ACT == 0u) {
      slope = select(0.0, 1.0, v > 0.0);
    } else if (ACT == 1u) {
      let s = sigmoid(v);
      slope = s * (1.0 + v * (1.0 - s));
    } else {
      let t = tanh_safe(v);
      slope = 1.0 - t * t;
    }
    dz[i] = da[i] * slope;
  }
}
