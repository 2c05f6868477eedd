// Plain TS reference for cross-entropy with label smoothing (PyTorch F.cross_entropy semantics,
// ignore_index -100, reduction 'mean' over counted rows), in f64, written independently.
//   logits (N, V), labels (N). rowLoss (N) is 0 for ignored rows; dlogits is d(mean loss)/dlogits.
export function crossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  N: number,
  V: number,
  smoothing = 0,
  counted?: number,
): { rowLoss: Float64Array; lse: Float64Array; loss: number; dlogits: Float64Array } {
  const rowLoss = new Float64Array(N);
  const lse = new Float64Array(N);
  const dlogits = new Float64Array(N * V);
  const count = counted ?? Array.from(labels).filter((y) => y !== -100).length;
  let total = 0;
  for (let n = 0; n < N; n++) {
    const row = Array.from({ length: V }, (_, v) => logits[n * V + v]);
    const m = row.reduce((a, z) => Math.max(a, z), -Infinity);
    const l = m + Math.log(row.reduce((s, z) => s + Math.exp(z - m), 0));
    lse[n] = l;
    const y = labels[n];
    if (y === -100) continue;
    // -log p_y, and the mean over v of -log p_v
    const nll = l - row[y];
    const smooth = row.reduce((s, z) => s + (l - z), 0) / V;
    rowLoss[n] = (1 - smoothing) * nll + smoothing * smooth;
    total += rowLoss[n];
    for (let v = 0; v < V; v++) {
      const target = (v === y ? 1 - smoothing : 0) + smoothing / V;
      dlogits[n * V + v] = (Math.exp(row[v] - l) - target) / count;
    }
  }
  return { rowLoss, lse, loss: total / count, dlogits };
}
