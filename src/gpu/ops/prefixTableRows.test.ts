// The table <-> block layout kernels against their TS references (layerFromPeftTable /
// toPeftTable): pure moves, so bit for bit, on awkward shapes (one position, one layer, widths
// that are not multiples of anything).
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, emptyTensor, releaseTensor, uploadF32 } from '../tensor';
import { layerFromPeftTable, toPeftTable } from '../../model/prefixTuning';
import { randn } from '../../util/random';
import { prefixBlockToTable, prefixTableToBlock } from './prefixTableRows';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 1],
  [7, 33, 3],
  [20, 8, 5],
  [5, 257, 2],
];

describe.each(SHAPES)('prefix table rows n=%i TD=%i L=%i', (n, TD, L) => {
  it('table -> every layer block, and blocks -> table, bit for bit', async () => {
    const ctx = await getTestGpu();
    const W = L * 2 * TD;
    const table = Float32Array.from(randn(n * W, n * 131 + TD * 7 + L));
    const tt = uploadF32(ctx, table, [n, W], 'table');
    const blocks = Array.from({ length: L }, (_, l) => emptyTensor(ctx, 'f32', [2, n, TD], `block ${l}`));
    for (let l = 0; l < L; l++) await prefixTableToBlock(ctx, tt, blocks[l], l);
    const got: Float32Array[] = [];
    for (let l = 0; l < L; l++) {
      got.push(await downloadF32(ctx, blocks[l]));
      expect(Array.from(got[l]), `layer ${l}`).toEqual(Array.from(layerFromPeftTable(table, n, L, TD, l)));
    }
    const back = emptyTensor(ctx, 'f32', [n, W], 'table back');
    for (let l = 0; l < L; l++) await prefixBlockToTable(ctx, blocks[l], back, l);
    expect(Array.from(await downloadF32(ctx, back))).toEqual(Array.from(toPeftTable(got, n, TD)));
    for (const t of [tt, back, ...blocks]) releaseTensor(ctx, t);
  });
});

describe('prefix table rows refuse what does not fit', () => {
  it('names the shapes and the layer', async () => {
    const ctx = await getTestGpu();
    const table = emptyTensor(ctx, 'f32', [3, 12], 'table');
    const block = emptyTensor(ctx, 'f32', [2, 3, 2], 'block');
    const wrong = emptyTensor(ctx, 'f32', [2, 4, 2], 'wrong');
    await expect(prefixTableToBlock(ctx, table, block, 3)).rejects.toThrow(/layer 3 is outside 0..2/);
    await expect(prefixTableToBlock(ctx, table, wrong, 0)).rejects.toThrow(/table \[3,12\] and block \[2,4,2\] do not belong together/);
    for (const t of [table, block, wrong]) releaseTensor(ctx, t);
  });
});
