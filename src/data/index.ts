// The dataset pipeline's public API: read a file, tokenize it with a chat template, split it,
// and iterate batches. See each module for the details and conventions.

export type {
  BadRow, ChatMessage, ColumnMapping, DatasetErrorCode, DetectedFormat, Example, FormatKind, FormatName, RawDataset, Role,
} from './types.ts';
export { DatasetError } from './types.ts';
export { detectFormat, formatFromMapping, OPENAI_ROLES, SHAREGPT_ROLES } from './detect.ts';
export { readDatasetFile, type FileKind, type ReadOptions } from './read.ts';
export { readTextChunks, type ProgressCallback } from './stream.ts';
export { SegmentEncoder, type TokenizerLike, type AddedTokenLike } from './encode.ts';
export { ChatRenderer, chatTemplateInfo, DEFAULT_TEMPLATE, instructionMessages, type ChatTemplateInfo, type Segment } from './template.ts';
export { checkTemplateTokens, baseVocabSize, type TemplateTokenWarning, type TemplateTokenCheckOptions } from './template-tokens.ts';
export { DatasetTokenizer, tokenizeDataset, computeStats, type TokenizeOptions, type TokenizedDataset, type DatasetStats, type LengthHistogram } from './tokenize.ts';
export { previewPieces, type PreviewPiece } from './preview.ts';
export { splitDataset, subsetDataset, type SplitOptions } from './split.ts';
export { BatchIterator, epochOrder, IGNORE_INDEX, type Batch, type BatchCursor, type BatchOptions } from './batches.ts';
