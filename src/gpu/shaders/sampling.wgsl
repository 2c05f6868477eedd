// Next-token selection from one row of logits, entirely on the GPU (the CPU reads back 4 bytes).
//   logits  is (N, V) f32; params.row picks the row (the last position of a sequence: b·T + T-1)
//   out     is (2) i32: out[0] the chosen token id, out[1] how many tokens were candidates
//           (sample: the size of the top-k/top-p set; argmax: 1)
//   scratch is (V) f32 (sample only): w_i = exp((l_i - max l) / temperature)
// Each entry point is ONE workgroup of WG threads (WG a power of two).
//   argmax_v1: greedy decoding: the first index of the largest logit, as torch.argmax. NaN
//              logits are never chosen; a row with no number above -inf gives 0.
//   sample_v1, sample_v2: Hugging Face's order of warpers: temperature, then top-k (keep every
//              token whose logit is >= the k-th largest, ties included), then top-p on the
//              renormalised top-k distribution (keep the smallest top set whose mass reaches
//              top_p; all tokens tied at the cut are kept), then one draw with the uniform number
//              u in [0, 1) given by the CPU: the first candidate, in vocabulary order, at which
//              the running sum of w exceeds u·Σw. No sort: each cut is a threshold on
//              order-preserving u32 keys of the logits, found by a bitwise binary search (v1,
//              32 passes over the row per cut) or a radix select with 4 bits per pass (v2, 8
//              passes per cut). Every sum is a fixed-order reduction, so results are reproducible.
// NaN logits get key 0 and weight 0 (never drawn). Ordering by logit equals ordering by
// probability for any temperature > 0, so the keys ignore the temperature.

struct Params {
  V: u32,
  row: u32,
  top_k: u32, // 0: off
  use_top_p: u32,
  top_p: f32,
  inv_temp: f32,
  u: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
// sample_v1's bindings
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// argmax_v1 needs no scratch, so its parameters come right after out (another entry point, so
// the binding number may repeat)
@group(0) @binding(2) var<uniform> argmax_params: Params;

override WG: u32 = 256;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> chosen_thread: u32;
var<workgroup> chosen_rest: f32;

const NO_INDEX: u32 = 0xffffffffu;
// The extreme finite values stand in for ±inf (WGSL constants cannot be infinite).
const F32_LOWEST: f32 = -0x1.fffffep+127f;
const F32_HIGHEST: f32 = 0x1.fffffep+127f;

fn is_nan(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

// Monotone map f32 -> u32: a < b (as numbers) iff key(a) < key(b). NaN -> 0, below -inf's key.
fn key_of(v: f32) -> u32 {
  if (is_nan(v)) {
    return 0u;
  }
  let bits = bitcast<u32>(v);
  if ((bits & 0x80000000u) != 0u) {
    return ~bits;
  }
  return bits | 0x80000000u;
}

fn logit(i: u32) -> f32 {
  return logits[params.row * params.V + i];
}

// Fixed-order tree sums; every thread gets the (uniform) result.
fn sum_f32(tid: u32, v: f32) -> f32 {
  red_f[tid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      red_f[tid] += red_f[tid + s];
    }
  }
  let total = workgroupUniformLoad(&red_f[0]);
  workgroupBarrier(); // all have read red_f[0] before the next call overwrites it
  return total;
}

fn sum_u32(tid: u32, v: u32) -> u32 {
  red_u[tid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      red_u[tid] += red_u[tid + s];
    }
  }
  let total = workgroupUniformLoad(&red_u[0]);
  workgroupBarrier();
  return total;
}

fn max_f32(tid: u32, v: f32) -> f32 {
  red_f[tid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      red_f[tid] = max(red_f[tid], red_f[tid + s]);
    }
  }
  let m = workgroupUniformLoad(&red_f[0]);
  workgroupBarrier();
  return m;
}

@compute @workgroup_size(WG)
fn argmax_v1(@builtin(local_invocation_index) tid: u32) {
  // strided ownership; ties resolve to the smaller index, so the partition does not matter
  var best = F32_LOWEST; // a -inf logit never beats it, so an all -inf row keeps NO_INDEX
  var best_i = NO_INDEX;
  let base = argmax_params.row * argmax_params.V;
  for (var i = tid; i < argmax_params.V; i += WG) {
    let v = logits[base + i];
    if (!is_nan(v) && v > best) {
      best = v;
      best_i = i;
    }
  }
  red_f[tid] = best;
  red_u[tid] = best_i;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      let v = red_f[tid + s];
      let j = red_u[tid + s];
      if (j != NO_INDEX && (v > red_f[tid] || (v == red_f[tid] && j < red_u[tid]) || red_u[tid] == NO_INDEX)) {
        red_f[tid] = v;
        red_u[tid] = j;
      }
    }
  }
  if (tid == 0u) {
    out[0] = select(i32(red_u[0]), 0, red_u[0] == NO_INDEX);
    out[1] = 1;
  }
}

// Contiguous ownership: thread tid owns [lo, hi), so the draw can walk chunks in vocabulary order.
fn owned_range(tid: u32) -> vec2<u32> {
  let chunk = (params.V + WG - 1u) / WG;
  let lo = min(tid * chunk, params.V);
  return vec2<u32>(lo, min(lo + chunk, params.V));
}

// scratch[i] = exp((l_i - max l) / T); NaN logits get 0.
fn write_weights(tid: u32, lo: u32, hi: u32) {
  var local_max = F32_LOWEST;
  for (var i = lo; i < hi; i++) {
    let v = logit(i);
    if (!is_nan(v)) {
      local_max = max(local_max, v);
    }
  }
  let lmax = max_f32(tid, local_max);
  for (var i = lo; i < hi; i++) {
    let v = logit(i);
    scratch[i] = select(exp((v - lmax) * params.inv_temp), 0.0, is_nan(v));
  }
}

// The mass of the top-k set {key >= cut} times top_p: what the top-p set must reach.
fn top_p_goal(tid: u32, lo: u32, hi: u32, cut: u32) -> f32 {
  var kept_mass = 0.0;
  for (var i = lo; i < hi; i++) {
    kept_mass += select(0.0, scratch[i], key_of(logit(i)) >= cut);
  }
  return params.top_p * sum_f32(tid, kept_mass);
}

// The draw among {key >= cut, w > 0}: chunk sums in vocabulary order, then the one thread whose
// chunk holds u·Σw walks it. Writes out[0] (the token, -1 if there is no candidate) and out[1].
fn draw(tid: u32, lo: u32, hi: u32, cut: u32) {
  var chunk_sum = 0.0;
  var chunk_count = 0u;
  for (var i = lo; i < hi; i++) {
    let w = scratch[i];
    if (key_of(logit(i)) >= cut && w > 0.0) {
      chunk_sum += w;
      chunk_count += 1u;
    }
  }
  red_f[tid] = chunk_sum;
  let candidates = sum_u32(tid, chunk_count); // also a barrier: every red_f[tid] is written
  if (tid == 0u) {
    var total = 0.0;
    for (var t = 0u; t < WG; t++) {
      total += red_f[t];
    }
    let goal = params.u * total;
    var acc = 0.0;
    var pick = NO_INDEX;
    var last_nonempty = 0u;
    var rest = 0.0;
    for (var t = 0u; t < WG; t++) {
      let s = red_f[t];
      if (s > 0.0) {
        last_nonempty = t;
        if (pick == NO_INDEX && acc + s > goal) {
          pick = t;
          rest = goal - acc;
        }
      }
      acc += s;
    }
    if (pick == NO_INDEX) {
      // u·total rounded up to total: take the last candidate
      pick = last_nonempty;
      rest = F32_HIGHEST;
    }
    chosen_thread = pick;
    chosen_rest = rest;
  }
  let pick = workgroupUniformLoad(&chosen_thread);
  if (tid == pick) {
    var acc = 0.0;
    var token = NO_INDEX;
    var last = NO_INDEX;
    for (var i = lo; i < hi; i++) {
      let w = scratch[i];
      if (key_of(logit(i)) >= cut && w > 0.0) {
        acc += w;
        last = i;
        if (acc > chosen_rest) {
          token = i;
          break;
        }
      }
    }
    if (token == NO_INDEX) {
      token = last;
    }
    out[0] = i32(token);
    out[1] = i32(candidates);
  }
}

// v1: the cuts by a bitwise binary search, one reduction per key bit (64 passes with both).
@compute @workgroup_size(WG)
fn sample_v1(@builtin(local_invocation_index) tid: u32) {
  let range = owned_range(tid);
  let lo = range.x;
  let hi = range.y;
  write_weights(tid, lo, hi);

  // top-k: the largest key c with count(key >= c) >= k, i.e. the k-th largest logit's key
  var cut = 0u;
  if (params.top_k > 0u && params.top_k < params.V) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = cut | (1u << u32(bit));
      var cnt = 0u;
      for (var i = lo; i < hi; i++) {
        cnt += select(0u, 1u, key_of(logit(i)) >= cand);
      }
      if (sum_u32(tid, cnt) >= params.top_k) {
        cut = cand;
      }
    }
  }

  // top-p on the top-k set: the largest c (>= the top-k cut) whose set {key >= c} still holds
  // at least top_p of the top-k mass. The sums share one tree order, and float addition is
  // monotone, so "mass(c) >= goal" is monotone in c and the bitwise search is exact.
  if (params.use_top_p == 1u) {
    let goal = top_p_goal(tid, lo, hi, cut);
    var c = 0u;
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = c | (1u << u32(bit));
      let floor_key = max(cand, cut);
      var mass = 0.0;
      for (var i = lo; i < hi; i++) {
        mass += select(0.0, scratch[i], key_of(logit(i)) >= floor_key);
      }
      if (sum_f32(tid, mass) >= goal) {
        c = cand;
      }
    }
    cut = max(c, cut);
  }
  draw(tid, lo, hi, cut);
}

// v2: the same cuts by radix select, 4 key bits per pass (16 passes with both instead of 64).
// Each pass histograms the next digit of the keys that share the digits chosen so far (count
// or mass per digit, plus what lies entirely above that prefix), reduces the 17 values at once,
// and keeps the largest digit d with above + Σ_{d' >= d} hist[d'] >= goal. Counts are summed as
// f32, exact below 2^24 tokens.
const DIGITS: u32 = 16u;
var<workgroup> hred: array<f32, (DIGITS + 1u) * WG>;

// Tree-sum every thread's 16 digit values and `above`; results in hred[j * WG] (j = 16: above).
fn reduce_hist(tid: u32, hist: array<f32, DIGITS>, above: f32) {
  workgroupBarrier(); // the previous pass's readers are done with hred
  for (var j = 0u; j < DIGITS; j++) {
    hred[j * WG + tid] = hist[j];
  }
  hred[DIGITS * WG + tid] = above;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s) {
      for (var j = 0u; j <= DIGITS; j++) {
        hred[j * WG + tid] += hred[j * WG + tid + s];
      }
    }
  }
  workgroupBarrier();
}

// The largest digit whose suffix sum (plus above) reaches goal; 0 if none does (rounding).
fn pick_digit(goal: f32) -> u32 {
  var acc = hred[DIGITS * WG];
  for (var j = i32(DIGITS) - 1i; j > 0i; j--) {
    acc += hred[u32(j) * WG];
    if (acc >= goal) {
      return u32(j);
    }
  }
  return 0u;
}

// One radix pass over [lo, hi): keys >= floor_key only; weight 1 (counting) or scratch[i] (mass).
fn radix_pass(tid: u32, lo: u32, hi: u32, prefix: u32, shift: u32, floor_key: u32, by_mass: bool) {
  // the digits above `shift` already chosen: a mask of them (none in the first pass)
  let hi_mask = select(0xffffffffu << (shift + 4u), 0u, shift + 4u >= 32u);
  var hist: array<f32, DIGITS>;
  var above = 0.0;
  for (var i = lo; i < hi; i++) {
    let key = key_of(logit(i));
    if (key < floor_key) {
      continue;
    }
    let w = select(1.0, scratch[i], by_mass);
    let high = key & hi_mask;
    if (high == prefix) {
      let d = (key >> shift) & (DIGITS - 1u);
      hist[d] += w;
    } else if (high > prefix) {
      above += w;
    }
  }
  reduce_hist(tid, hist, above);
}

@compute @workgroup_size(WG)
fn sample_v2(@builtin(local_invocation_index) tid: u32) {
  let range = owned_range(tid);
  let lo = range.x;
  let hi = range.y;
  write_weights(tid, lo, hi);

  var cut = 0u;
  if (params.top_k > 0u && params.top_k < params.V) {
    var prefix = 0u;
    for (var step = 0u; step < 8u; step++) {
      let shift = 28u - 4u * step;
      radix_pass(tid, lo, hi, prefix, shift, 0u, false);
      prefix |= pick_digit(f32(params.top_k)) << shift;
    }
    cut = prefix;
  }
  if (params.use_top_p == 1u) {
    let goal = top_p_goal(tid, lo, hi, cut);
    var prefix = 0u;
    for (var step = 0u; step < 8u; step++) {
      let shift = 28u - 4u * step;
      radix_pass(tid, lo, hi, prefix, shift, cut, true);
      prefix |= pick_digit(goal) << shift;
    }
    cut = max(prefix, cut);
  }
  draw(tid, lo, hi, cut);
}
