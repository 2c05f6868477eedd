// The kernel bench's row-reduction section runs on this adapter at tiny shapes: a choice per op,
// and a time for every op and version the device can run (both here: SwiftShader has subgroups).
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../src/gpu/testing/nodeGpu';
import { benchRowKernels } from './rowKernelsMeasure';

describe('benchRowKernels', () => {
  it('reports the choices and times every version at small shapes', async () => {
    const ctx = await getTestGpu();
    const lines: string[] = [];
    const r = await benchRowKernels(ctx, { log: (l) => lines.push(l), cpuSeconds: async () => null }, { tokens: 5, width: 37, vocab: 101, gradValues: 3000 });
    expect(r.choices.map((c) => c.op)).toEqual(['crossEntropy', 'sumRows', 'rmsnorm', 'layernorm', 'gradNorm']);
    const versions = ctx.description.features.subgroups ? [1, 2] : [1];
    expect(r.rows.map((row) => `${row.op} v${row.version}`)).toEqual(
      versions.flatMap((v) => ['rmsnorm forward + backward dx', 'layernorm forward + backward dx', 'cross-entropy forward + backward (in place)', 'gradient norm'].map((op) => `${op} v${v}`)),
    );
    for (const row of r.rows) expect(row.ms).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('row kernels: ')).length).toBe(5);
  });
});
