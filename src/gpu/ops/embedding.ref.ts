// Plain TS reference for the embedding lookup and its backward, in f64.
//   table (V, C) (fp16-rounded values when the kernel reads fp16), ids (N) -> (N, C)
// Out-of-range ids read the clamped row, as the kernel does.
export function embeddingForwardRef(table: ArrayLike<number>, ids: ArrayLike<number>, V: number, C: number): Float64Array {
  const out = new Float64Array(ids.length * C);
  ids = Array.from(ids, (id) => Math.min(Math.max(id, 0), V - 1));
  for (let n = 0; n < ids.length; n++) {
    for (let c = 0; c < C; c++) out[n * C + c] = table[ids[n] * C + c];
  }
  return out;
}

/** dTable (V, C) = scatter-add of dout (N, C) rows by id. */
export function embeddingBackwardRef(dout: ArrayLike<number>, ids: ArrayLike<number>, V: number, C: number): Float64Array {
  const dTable = new Float64Array(V * C);
  for (let n = 0; n < ids.length; n++) {
    for (let c = 0; c < C; c++) dTable[ids[n] * C + c] += dout[n * C + c];
  }
  return dTable;
}
