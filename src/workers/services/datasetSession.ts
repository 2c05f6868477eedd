// The dataset session: reading a dataset file (or the bundled sample), tokenizing it with the
// loaded model's tokenizer and chat template as it streams, splitting it and describing it.
import { checkTemplateTokens, readDatasetFiles, splitDataset, DatasetTokenizer, previewPieces } from '../../data';
import type { DatasetInfo, DatasetOptions, DatasetProgressEvent, DatasetSource, PreviewExample } from '../api';
import { assetUrl, requireModel, type EngineCore } from './core';
import { hubSplitFiles } from './hubDataset';

export async function loadDataset(core: EngineCore, source: DatasetSource, opts: DatasetOptions, onProgress?: (e: DatasetProgressEvent) => void): Promise<DatasetInfo> {
  const { tokenizer, template, model } = requireModel(core);
  let files: (Blob & { name: string })[];
  if (source.kind === 'sample') {
    const res = await (core.opts.fetch ?? fetch)(assetUrl(core, '/datasets/sample.jsonl'));
    if (!res.ok) throw new Error(`The sample dataset could not be loaded (HTTP ${res.status}).`);
    files = [Object.assign(await res.blob(), { name: 'sample.jsonl' })];
  } else if (source.kind === 'hub') {
    files = await hubSplitFiles(source.repo, source.config, source.split, {
      endpoint: source.endpoint, timeoutMs: source.timeoutMs, fetch: core.opts.fetch, maxRows: opts.maxRows, onProgress,
    });
  } else {
    files = source.kind === 'files' ? source.files : [source.file];
  }
  const name = source.kind === 'hub' ? `${source.repo} (${source.config}/${source.split})` : files.length > 1 ? `${files[0].name} (+${files.length - 1} more)` : files[0].name;
  const file = { name };
  // Rows are tokenized as the reader streams them and not kept: memory grows with the tokens
  // only, whatever the size of the file.
  const maxSeqLen = Math.min(opts.maxSeqLen, model.config.maxPositions);
  let tokenizing: DatasetTokenizer | null = null;
  const raw = await readDatasetFiles(files, {
    mapping: opts.mapping,
    maxRows: opts.maxRows,
    keepRows: false,
    onBadRow: opts.onBadRow === 'stop' ? 'stop' : 'collect',
    onFormat: (format) => {
      tokenizing = new DatasetTokenizer(tokenizer, template, format, file.name, { maxSeqLen, trainOn: opts.trainOn, onBadRow: opts.onBadRow });
    },
    onExample: (ex) => tokenizing!.add(ex),
    onProgress: (done, total) => onProgress?.({ phase: 'reading', bytesDone: done, bytesTotal: total }),
  });
  if (!tokenizing) throw new Error(`${file.name}: the reader reported no format.`);
  const ds = (tokenizing as DatasetTokenizer).finish(raw);
  if (ds.offsets.length < 2) throw new Error(`${file.name} has no usable examples (${ds.badRows.length} bad rows). Fix the rows listed, or pick another file.`);
  const { train, validation } = splitDataset(ds, { validationFraction: opts.validationFraction, seed: opts.seed });
  const warnings = checkTemplateTokens(tokenizer, template, { modelVocabSize: model.config.vocabSize }).map((w) => w.message);
  // Runs of trained / untrained tokens, decoded with their context (previewPieces says why not token by token).
  const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const preview: PreviewExample[] = [];
  for (let e = 0; e < Math.min(3, ds.offsets.length - 1); e++) {
    preview.push({ line: ds.lines[e], pieces: previewPieces(decode, ds.tokens, ds.trained, ds.offsets[e], ds.offsets[e + 1]) });
  }
  let fp = 0x811c9dc5;
  for (let i = 0; i < ds.tokens.length; i += Math.max(1, Math.floor(ds.tokens.length / 4096))) fp = Math.imul(fp ^ ds.tokens[i], 0x01000193) >>> 0;
  const info: DatasetInfo = {
    name: file.name,
    format: raw.format,
    stats: ds.stats,
    badRows: ds.badRows.slice(0, 1000),
    trainExamples: train.offsets.length - 1,
    validationExamples: validation.offsets.length - 1,
    preview,
    warnings: warnings.filter((w): w is string => typeof w === 'string'),
    fingerprint: `${fp.toString(16)}-${ds.tokens.length}`,
  };
  core.dataset = { train, validation, info };
  return info;
}
