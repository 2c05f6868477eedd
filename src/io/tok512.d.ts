export declare class TokenizerError extends Error {
  constructor(message: string);
}

export interface Llama2cTokenizer {
  maxTokenLength: number;
  /** Pieces exactly as stored (word marker as a plain space, BOS/EOS as "\n<s>\n"/"\n</s>\n"). */
  tokens: { piece: string; score: number }[];
}

export declare function parseLlama2cTokenizer(file: ArrayBuffer | Uint8Array, vocabSize?: number, name?: string): Llama2cTokenizer;
export declare function llama2cTokenizerJson(tok: Llama2cTokenizer, name?: string): Record<string, unknown>;
export declare function llama2cTokenizerConfig(modelMaxLength: number): Record<string, unknown>;
