// Column blocks of row-major f32 matrices (kernel in shaders/split_columns.wgsl), for fused
// projections read in parts, e.g. GPT-2's c_attn output qkv (N, 3C) = [q | k | v]:
//   splitColumns(x, parts)    x (N, S) f32 -> parts[i] (N, W_i) f32, ΣW_i = S, in column order
//   mergeColumns(parts, out)  parts[i] (N, W_i) f32 -> out (N, S) f32 (the split's adjoint: the
//                             gradient of a split is the merge of the parts' gradients)
//   copyColumns(src, dst, { srcCol, dstCol, cols })  one block; dst's other columns untouched
// Pure copies: results are bit-exact. Ops only record into ctx.encoder(); callers flush.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import splitColumnsCode from '../shaders/split_columns.wgsl?raw';
import type { Tensor } from '../tensor';

export const SPLIT_COLUMNS_SHADER: WgslSource = { file: 'split_columns.wgsl', code: splitColumnsCode };
const WG = 256;

function rowsCols(op: string, t: Tensor, what: string): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) {
    throw new Error(`${op}: ${what} (${t.label}) must be a 2-D f32 tensor (N, columns), got ${t.dtype} [${t.shape.join(',')}]`);
  }
  return [t.shape[0], t.shape[1]];
}

export interface ColumnBlock {
  srcCol: number;
  dstCol: number;
  cols: number;
}

/** dst[n, dstCol + j] = src[n, srcCol + j] for every row n and j < cols. */
export async function copyColumns(ctx: GpuContext, src: Tensor, dst: Tensor, block: ColumnBlock, op = 'copyColumns'): Promise<void> {
  const [N, S] = rowsCols(op, src, 'src');
  const [Nd, W] = rowsCols(op, dst, 'dst');
  if (Nd !== N) throw new Error(`${op}: src (${src.label}) has ${N} rows but dst (${dst.label}) has ${Nd}`);
  if (src.buffer === dst.buffer) throw new Error(`${op}: src and dst (${src.label}) must be different buffers`);
  const { srcCol, dstCol, cols } = block;
  for (const [k, v] of Object.entries(block)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${op}: ${k} must be an integer >= 0, got ${v}`);
  }
  if (srcCol + cols > S) throw new Error(`${op}: columns ${srcCol}..${srcCol + cols - 1} are outside src (${src.label}), which has ${S}`);
  if (dstCol + cols > W) throw new Error(`${op}: columns ${dstCol}..${dstCol + cols - 1} are outside dst (${dst.label}), which has ${W}`);
  // the kernel indexes in u32
  if (N * Math.max(S, W) >= 2 ** 32) throw new Error(`${op}: ${N}x${Math.max(S, W)} elements exceed the kernel's u32 indexing; copy fewer rows at a time`);
  const pipeline = await ctx.pipelines.get({ shader: SPLIT_COLUMNS_SHADER, entryPoint: 'copy_columns', constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil((N * cols) / WG));
  dispatch(ctx, {
    pipeline,
    bindings: [src, dst],
    uniforms: new Uint32Array([N, cols, S, W, srcCol, dstCol, gx * WG, 0]),
    workgroups: [gx, gy],
    label: `${op} ${N}x${cols} [${srcCol}..] -> [${dstCol}..]`,
  });
}

function checkWidths(op: string, total: number, parts: readonly Tensor[], N: number, whole: Tensor): void {
  if (parts.length === 0) throw new Error(`${op}: needs at least one part`);
  let sum = 0;
  for (const [i, p] of parts.entries()) {
    const [n, w] = rowsCols(op, p, `parts[${i}]`);
    if (n !== N) throw new Error(`${op}: parts[${i}] (${p.label}) has ${n} rows but ${whole.label} has ${N}`);
    sum += w;
  }
  if (sum !== total) {
    throw new Error(`${op}: the parts' widths [${parts.map((p) => p.shape[1]).join(', ')}] sum to ${sum}, but ${whole.label} has ${total} columns`);
  }
}

/** x (N, S) -> parts (N, W_i) in column order; the widths must sum to S. */
export async function splitColumns(ctx: GpuContext, x: Tensor, parts: readonly Tensor[]): Promise<void> {
  const op = 'splitColumns';
  const [N, S] = rowsCols(op, x, 'x');
  checkWidths(op, S, parts, N, x);
  let col = 0;
  for (const p of parts) {
    await copyColumns(ctx, x, p, { srcCol: col, dstCol: 0, cols: p.shape[1] }, op);
    col += p.shape[1];
  }
}

/** parts (N, W_i) -> out (N, S) side by side in order; the widths must sum to S. */
export async function mergeColumns(ctx: GpuContext, parts: readonly Tensor[], out: Tensor): Promise<void> {
  const op = 'mergeColumns';
  const [N, S] = rowsCols(op, out, 'out');
  checkWidths(op, S, parts, N, out);
  let col = 0;
  for (const p of parts) {
    await copyColumns(ctx, p, out, { srcCol: 0, dstCol: col, cols: p.shape[1] }, op);
    col += p.shape[1];
  }
}
