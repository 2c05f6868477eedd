// The finetune CLI's --data: `demo`, a file, several Parquet files (comma-separated: the shards of
// one split), or `hub:REPO[:CONFIG[:SPLIT]]` (a Hugging Face dataset's Parquet conversion; the
// config and split default to `default` / `train` when the dataset has them, else its first).
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';

/** @typedef {{ kind: 'demo' } | { kind: 'files', paths: string[] } | { kind: 'hub', repo: string, config?: string, split?: string }} DataSpec */

/**
 * @param {string} value
 * @param {(message: string) => Error} usage makes the usage error to throw
 * @returns {DataSpec}
 */
export function parseDataArg(value, usage) {
  if (value === 'demo') return { kind: 'demo' };
  if (value.startsWith('hub:')) {
    const [repo, config, split, ...rest] = value.slice(4).split(':');
    if (rest.length > 0 || !/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(repo ?? '') || config === '' || split === '') {
      throw usage(`--data ${value}: write a Hub dataset as hub:OWNER/NAME[:CONFIG[:SPLIT]], e.g. hub:HuggingFaceH4/ultrachat_200k:default:train_sft.`);
    }
    return { kind: 'hub', repo, config, split };
  }
  const paths = value.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (paths.length === 0) throw usage('--data: give a file, several .parquet files separated by commas, hub:OWNER/NAME, or demo.');
  for (const p of paths) if (!existsSync(resolve(p))) throw usage(`--data ${p}: no such file.`);
  if (paths.length > 1) {
    const other = paths.find((p) => !p.toLowerCase().endsWith('.parquet'));
    if (other) throw usage(`--data: several files are read together only as the Parquet shards of one split, and ${other} is not a .parquet file.`);
  }
  return { kind: 'files', paths: paths.map((p) => resolve(p)) };
}

/** What the run's sidecar keeps of --data (absolute paths; the hub spec as given). */
export function dataForSidecar(spec, value) {
  return spec.kind === 'demo' ? 'demo' : spec.kind === 'hub' ? value : spec.paths.join(',');
}

/**
 * The page-side description of the files to serve.
 * @param {DataSpec} spec
 * @param {(path: string) => string} serveFile the host's URL for a local file
 */
export function dataForPage(spec, serveFile) {
  if (spec.kind === 'files') return { kind: 'files', files: spec.paths.map((p) => ({ name: basename(p), url: serveFile(p) })) };
  return spec;
}

/**
 * The config and split to read: the ones given, else `default` / `train` when listed, else the first.
 * @param {{ configs: { name: string, splits: { name: string }[] }[] }} listing
 * @param {string | undefined} config
 * @param {string | undefined} split
 */
export function pickConfigSplit(listing, config, split) {
  const names = listing.configs.map((c) => c.name);
  const c = config === undefined ? (listing.configs.find((x) => x.name === 'default') ?? listing.configs[0]) : listing.configs.find((x) => x.name === config);
  if (!c) return { error: `it has no config "${config}"; its configs: ${names.join(', ')}.` };
  const splits = c.splits.map((s) => s.name);
  const s = split === undefined ? (splits.includes('train') ? 'train' : splits[0]) : splits.includes(split) ? split : undefined;
  if (s === undefined) return { error: `its config "${c.name}" has no split "${split}"; its splits: ${splits.join(', ')}.` };
  return { config: c.name, split: s };
}
