// The dataset pipeline's public API: read a file, tokenize it with a chat template, split it,
// and iterate batches. See each module for the details and conventions.

export type {
  BadRow, ChatMessage, ColumnMapping, DatasetErrorCode, DetectedFormat, Example, FormatKind, FormatName, RawDataset, Role,
} from './types';
export { DatasetError, badRowPlace } from './types';
export { detectFormat, formatFromMapping, OPENAI_ROLES, SHAREGPT_ROLES } from './detect';
export { readDatasetFile, readDatasetFiles, type FileKind, type ReadOptions } from './read';
export { isParquet, parquetFileMetadata } from './parseParquet';
export { readTextChunks, type ProgressCallback } from './stream';
export { SegmentEncoder, type TokenizerLike, type AddedTokenLike } from './encode';
export { ChatRenderer, chatTemplateInfo, DEFAULT_TEMPLATE, instructionMessages, type ChatTemplateInfo, type Segment } from './template';
export { checkTemplateTokens, baseVocabSize, type TemplateTokenWarning, type TemplateTokenCheckOptions } from './templateTokens';
export { DatasetTokenizer, tokenizeDataset, computeStats, type TokenizeOptions, type TokenizedDataset, type DatasetStats, type LengthHistogram } from './tokenize';
export { previewPieces, type PreviewPiece } from './preview';
export { splitDataset, subsetDataset, type SplitOptions } from './split';
export { BatchIterator, epochOrder, IGNORE_INDEX, type Batch, type BatchCursor, type BatchOptions } from './batches';
