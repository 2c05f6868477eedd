export declare class Llama2cError extends Error {
  constructor(message: string);
}

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Always positive here; the sign in the file became sharedClassifier. */
  vocabSize: number;
  seqLen: number;
  /** true when the classifier is the token embedding (tie_word_embeddings). */
  sharedClassifier: boolean;
  headDim: number;
}

/** Views into one fp32 buffer, in llama2.c's layout (per-layer arrays stacked on dim 0). */
export interface Llama2cWeights {
  tokenEmbedding: Float32Array;
  rmsAtt: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  rmsFfn: Float32Array;
  w1: Float32Array;
  w2: Float32Array;
  w3: Float32Array;
  rmsFinal: Float32Array;
  freqCisReal: Float32Array;
  freqCisImag: Float32Array;
  /** The token embedding itself when the classifier is shared. */
  wcls: Float32Array;
}

export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  weights: Llama2cWeights;
}

export interface HfTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export declare function parseLlama2cHeader(file: ArrayBuffer | Uint8Array, name?: string): Llama2cHeader;
export declare function parseLlama2c(file: ArrayBuffer | Uint8Array, name?: string): Llama2cCheckpoint;
export declare function interleavedToHalves(w: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array;
export declare function halvesToInterleaved(w: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array;
export declare function llama2cHfConfig(h: Llama2cHeader): Record<string, unknown>;
export declare function llama2cToHf(ckpt: Llama2cCheckpoint): { config: Record<string, unknown>; tensors: HfTensor[] };
