// Plain TS references for the elementwise ops (f64 arithmetic, rounded to f32 once at the end,
// which is what one f32 GPU operation gives for a single add or multiply).
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

export function scaleRef(x: ArrayLike<number>, s: number): Float32Array {
  const y = new Float32Array(x.length);
  const sf = Math.fround(s); // the kernel receives s as an f32 uniform
  for (let i = 0; i < x.length; i++) y[i] = sf * x[i];
  return y;
}
