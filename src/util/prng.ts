// A seeded PRNG and shuffle that give the same sequence on every platform: only 32-bit integer
// arithmetic (Math.imul, >>>), and floats only where they are exact (u32 / 2^32, times an
// integer below 2^21, floored).

/** mulberry32: tiny, fast, passes the usual statistical batteries well enough for shuffling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mixes several integers into one 32-bit seed (murmur3's finalizer over a running hash). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A uniform integer in [0, n) for n <= 2^21 (so u32 * n stays exact in a double). */
export function randInt(next: () => number, n: number): number {
  return Math.floor((next() / 4294967296) * n);
}

/** Fisher-Yates permutation of 0..n-1 for a seed. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const next = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = i + 1 <= 1 << 21 ? randInt(next, i + 1) : (next() * 2048 + (next() >>> 21)) % (i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
