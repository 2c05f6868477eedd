// A quantized base weight as a GPU tensor, and what the matmul family needs to read it: its
// validation class (the W "dtype" of matmulVariants.ts) and the override constants of
// fragments/quant_weights.wgsl. A quantized weight is a Tensor (so it lives in the model's weight
// map and is released like any other) of dtype 'u32' and logical shape [N, K] whose one buffer
// holds the codes then the meta of util/quant.ts; `quant` says how to read it.
import type { GpuContext } from '../device';
import { readBuffer, STORAGE_USAGE, type Tensor } from '../tensor';
import { groupsPerRow, packQuantWords, quantizeInt4Blocks, quantizeInt8Groups, quantizeInt8Rows, rowWords, type QuantFormat, type QuantMatrix } from '../../util/quant';

export interface QuantLayout {
  format: QuantFormat;
  group: number;
  groups: number;
  rowWords: number;
  /** word index of the meta in the buffer */
  metaOffset: number;
}

export interface QuantTensor extends Tensor {
  dtype: 'u32';
  quant: QuantLayout;
}

/**
 * The validation / tuning classes of quantized weights, as W dtypes of the matmul family:
 *   q8      int8 with one scale per row (--quantize int8)
 *   q8g32   int8 with a scale per 32 elements (GGUF Q8_0)
 *   q8g16   int8 with a scale per 16 elements (GGUF Q6_K)
 *   q4      4-bit codes with (scale, offset) per 32 elements (--quantize int4, GGUF Q4_0, Q4_K)
 */
export type QuantWDtype = 'q8' | 'q8g32' | 'q8g16' | 'q4';
export const QUANT_WDTYPES: readonly QuantWDtype[] = ['q8', 'q8g32', 'q8g16', 'q4'];

export function isQuantWDtype(d: string | undefined): d is QuantWDtype {
  return (QUANT_WDTYPES as readonly string[]).includes(d ?? '');
}

export function isQuantized(t: Tensor): t is QuantTensor {
  return (t as Partial<QuantTensor>).quant !== undefined;
}

/** The class of a quantized matrix of K columns; throws for a grouping no kernel reads. */
export function quantWDtype(q: Pick<QuantLayout, 'format' | 'group'>, cols: number): QuantWDtype {
  if (q.format === 'q4') {
    if (q.group !== 32) throw new Error(`quantized W: q4 needs 32-element blocks, got groups of ${q.group}`);
    return 'q4';
  }
  if (q.group >= cols) return 'q8';
  if (q.group === 32) return 'q8g32';
  if (q.group === 16) return 'q8g16';
  throw new Error(`quantized W: q8 with groups of ${q.group} elements (the kernels read one scale per row, or per 32 or 16 elements)`);
}

/** fragments/quant_weights.wgsl's override constants for a class. */
export function quantConstants(d: QuantWDtype): Record<string, number> {
  return { Q4: d === 'q4' ? 1 : 0, GROUP: d === 'q8g32' ? 32 : d === 'q8g16' ? 16 : 0 };
}

/** A matrix of the class `d` quantized from f32 values (the kernels' validation and tuning inputs). */
export function quantizeForClass(d: QuantWDtype, w: ArrayLike<number>, rows: number, cols: number): QuantMatrix {
  if (d === 'q4') return quantizeInt4Blocks(w, rows, cols);
  if (d === 'q8') return quantizeInt8Rows(w, rows, cols);
  return quantizeInt8Groups(w, rows, cols, d === 'q8g32' ? 32 : 16);
}

export function uploadQuant(ctx: GpuContext, m: QuantMatrix, label: string): QuantTensor {
  const words = packQuantWords(m);
  const buffer = ctx.allocator.create(words.byteLength, STORAGE_USAGE, label);
  ctx.device.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, words.byteLength);
  return {
    buffer,
    shape: [m.rows, m.cols],
    dtype: 'u32',
    label,
    quant: { format: m.format, group: m.group, groups: groupsPerRow(m), rowWords: rowWords(m.format, m.cols), metaOffset: m.codes.length },
  };
}

/** The matrix back on the CPU (exports dequantize it; tests compare). */
export async function downloadQuant(ctx: GpuContext, t: QuantTensor): Promise<QuantMatrix> {
  const [rows, cols] = t.shape;
  const q = t.quant;
  const metaWords = rows * q.groups * (q.format === 'q8' ? 1 : 2);
  const raw = new Uint32Array(await readBuffer(ctx, t.buffer, (q.metaOffset + metaWords) * 4));
  return {
    format: q.format,
    rows,
    cols,
    group: q.group,
    codes: raw.slice(0, q.metaOffset),
    meta: new Float32Array(raw.slice(q.metaOffset).buffer),
  };
}
