// Prefix tuning's table <-> layer-block layouts on the GPU (shaders/prefix_table_rows.wgsl); the TS
// references are model/prefixTuning.ts layerFromPeftTable / toPeftTable.
//   prefixTableToBlock(table, block, l)  table (n, L·2·TD) f32 -> block (2, n, TD) f32 of layer l
//   prefixBlockToTable(block, table, l)  the inverse: layer l's columns of table written from block
// One dispatch per layer (the prefix MLP's output into the layers, their gradients back).
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import rowsCode from '../shaders/prefix_table_rows.wgsl?raw';
import type { Tensor } from '../tensor';

export const PREFIX_TABLE_ROWS_SHADER: WgslSource = { file: 'prefix_table_rows.wgsl', code: rowsCode };
const WG = 256;

function dims(op: string, table: Tensor, block: Tensor, l: number) {
  if (table.dtype !== 'f32' || table.shape.length !== 2) throw new Error(`${op}: table (${table.label}) must be f32 (n, L·2·TD), got ${table.dtype} [${table.shape.join(',')}]`);
  if (block.dtype !== 'f32' || block.shape.length !== 3 || block.shape[0] !== 2) throw new Error(`${op}: block (${block.label}) must be f32 (2, n, TD), got ${block.dtype} [${block.shape.join(',')}]`);
  const [n, W] = table.shape;
  const [, bn, TD] = block.shape;
  if (bn !== n || W % (2 * TD) !== 0) throw new Error(`${op}: table [${table.shape.join(',')}] and block [${block.shape.join(',')}] do not belong together (n, L·2·TD) / (2, n, TD)`);
  const L = W / (2 * TD);
  if (!Number.isInteger(l) || l < 0 || l >= L) throw new Error(`${op}: layer ${l} is outside 0..${L - 1}`);
  return { n, W, TD };
}

async function run(ctx: GpuContext, entryPoint: string, bindings: Tensor[], d: { n: number; W: number; TD: number }, l: number) {
  const pipeline = await ctx.pipelines.get({ shader: PREFIX_TABLE_ROWS_SHADER, entryPoint, constants: { WG } });
  const count = 2 * d.n * d.TD;
  const [gx, gy] = grid1d(ctx, Math.ceil(count / WG));
  dispatch(ctx, { pipeline, bindings, uniforms: new Uint32Array([d.n, d.TD, d.W, 2 * l * d.TD, gx * WG]), workgroups: [gx, gy], label: `${entryPoint} l=${l} n=${d.n} td=${d.TD}` });
}

export async function prefixTableToBlock(ctx: GpuContext, table: Tensor, block: Tensor, l: number): Promise<void> {
  const d = dims('prefixTableToBlock', table, block, l);
  await run(ctx, 'table_to_block', [table, block], d, l);
}

export async function prefixBlockToTable(ctx: GpuContext, block: Tensor, table: Tensor, l: number): Promise<void> {
  const d = dims('prefixBlockToTable', table, block, l);
  await run(ctx, 'block_to_table', [block, table], d, l);
}
