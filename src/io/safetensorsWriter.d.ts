export declare class SafetensorsError extends Error {
  constructor(message: string);
}

/** Bytes per element of every whole-byte dtype the safetensors format defines. */
export declare const DTYPE_BYTES: Readonly<Record<string, number>>;

export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I32';

/** F32: Float32Array; F16 / BF16: Uint16Array of raw bits; I32: Int32Array. */
export type TensorToWrite =
  | { name: string; dtype: 'F32'; shape: readonly number[]; data: Float32Array }
  | { name: string; dtype: 'F16' | 'BF16'; shape: readonly number[]; data: Uint16Array }
  | { name: string; dtype: 'I32'; shape: readonly number[]; data: Int32Array };

export declare function shapeElementCount(shape: unknown): { count: number } | { error: string };

export declare function writeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array<ArrayBuffer>;
