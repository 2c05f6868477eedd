// llm.c-style result check (tests, the GPU self-test, kernel tuning): |got - ref| <= atol + rtol·|ref|
// elementwise; on failure the error lists the first mismatches with their indices so the broken
// region is obvious.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CheckReport {
  maxAbsErr: number;
  maxRelErr: number;
  mismatches: number;
}

export function compareArrays(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): CheckReport & { first: string[] } {
  if (got.length !== ref.length) throw new Error(`length mismatch: got ${got.length}, expected ${ref.length}`);
  let maxAbsErr = 0;
  let maxRelErr = 0;
  let mismatches = 0;
  const first: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const r = ref[i];
    const err = Math.abs(g - r);
    const ok = (Number.isNaN(r) && Number.isNaN(g)) || g === r || err <= tol.atol + tol.rtol * Math.abs(r);
    if (Number.isFinite(err)) {
      maxAbsErr = Math.max(maxAbsErr, err);
      if (r !== 0) maxRelErr = Math.max(maxRelErr, err / Math.abs(r));
    }
    if (!ok) {
      mismatches++;
      if (first.length < 8) first.push(`  [${i}] got ${g}, expected ${r} (|diff| ${err.toExponential(3)})`);
    }
  }
  return { maxAbsErr, maxRelErr, mismatches, first };
}

/** Throws with the first mismatches when any element is out of tolerance. */
export function expectClose(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): CheckReport {
  const r = compareArrays(got, ref, tol);
  if (r.mismatches > 0) {
    throw new Error(
      `${what}: ${r.mismatches} of ${ref.length} values outside atol ${tol.atol} + rtol ${tol.rtol}·|ref| ` +
        `(max abs err ${r.maxAbsErr.toExponential(3)}):\n${r.first.join('\n')}`,
    );
  }
  return r;
}
