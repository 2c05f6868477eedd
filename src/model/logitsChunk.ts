// How many rows of logits the LM head computes at once (training loss, evaluation): the (rows, V)
// f32 chunk stays under LOGITS_CHUNK_BYTES. The memory estimate (train/memory.ts) sizes the same
// chunk.

/** Rows of logits computed at once: the chunk stays under this many bytes. */
export const LOGITS_CHUNK_BYTES = 64 * 2 ** 20;

export function logitsChunkRows(vocab: number, rows: number): number {
  return Math.max(1, Math.min(rows, Math.floor(LOGITS_CHUNK_BYTES / (vocab * 4))));
}
