// What a run needs to continue, kept with the run: its tokenized dataset (the train and
// validation splits exactly as it trained on them), so that "Resume" after the tab was closed is
// one click and not "load the dataset again first". In the browser the files live in the
// origin-private file system (OPFS, navigator.storage.getDirectory(), written by the worker),
// one folder per run (runs/<id>/), freed when the run is deleted. The run's record in IndexedDB
// says how many bytes were kept (RunRecord.datasetBytes).
import type { TokenizedDataset } from '../data';
import type { RunRecord } from '../train/checkpointStore';
import type { DatasetInfo } from './api';

/** A run's tokenized data, as the engine holds it while training. */
export interface RunDataset {
  train: TokenizedDataset;
  validation: TokenizedDataset;
  info: DatasetInfo;
}

/** Files kept per run. */
export interface RunFiles {
  /** writes (replaces) the file; returns its size in bytes */
  put(runId: string, name: string, data: Blob): Promise<number>;
  /** null when the run has no such file */
  get(runId: string, name: string): Promise<Blob | null>;
  /** removes the run's folder (nothing happens when there is none) */
  remove(runId: string): Promise<void>;
}

const DATASET_FILE = 'dataset.bin';
const MAGIC = 0x53445357; // "WSDS" little-endian
const VERSION = 1;

function isNotFound(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');
}

/** The browser's origin-private file system, or null where it is missing. */
export function opfsRunFiles(): RunFiles | null {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.getDirectory !== 'function') return null;
  const runsDir = async () => (await storage.getDirectory()).getDirectoryHandle('runs', { create: true });
  return {
    async put(runId, name, data) {
      const dir = await (await runsDir()).getDirectoryHandle(runId, { create: true });
      const file = await dir.getFileHandle(name, { create: true });
      const w = await file.createWritable();
      try {
        await w.write(data);
        await w.close();
      } catch (e) {
        await w.abort().catch(() => {});
        throw e;
      }
      return data.size;
    },
    async get(runId, name) {
      try {
        const dir = await (await runsDir()).getDirectoryHandle(runId);
        return await (await dir.getFileHandle(name)).getFile();
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async remove(runId) {
      try {
        await (await runsDir()).removeEntry(runId, { recursive: true });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
  };
}

/** In memory (Node tests; a browser without OPFS keeps nothing across tabs, as before). */
export class MemoryRunFiles implements RunFiles {
  readonly files = new Map<string, Blob>();
  async put(runId: string, name: string, data: Blob) {
    this.files.set(`${runId}/${name}`, data);
    return data.size;
  }
  async get(runId: string, name: string) {
    return this.files.get(`${runId}/${name}`) ?? null;
  }
  async remove(runId: string) {
    for (const k of [...this.files.keys()]) if (k.startsWith(`${runId}/`)) this.files.delete(k);
  }
}

type SplitMeta = Omit<TokenizedDataset, 'tokens' | 'trained' | 'offsets' | 'lines'> & { sizes: [tokens: number, offsets: number, lines: number] };

function splitMeta(d: TokenizedDataset): SplitMeta {
  const { tokens, trained, offsets, lines, ...rest } = d;
  void trained;
  return { ...rest, sizes: [tokens.length, offsets.length, lines.length] };
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/**
 * One binary file: magic, version, header length (u32 each), the JSON header (info and each
 * split's small fields) padded to 4 bytes, then per split tokens, offsets, lines (i32) and the
 * trained mask (u8, padded to 4). Typed arrays are written as they are, so reading back gives
 * the same values bit for bit.
 */
export function encodeRunDataset(ds: RunDataset): Blob {
  const header = new TextEncoder().encode(JSON.stringify({ info: ds.info, train: splitMeta(ds.train), validation: splitMeta(ds.validation) }));
  const head = new Uint32Array([MAGIC, VERSION, header.length]);
  const parts: BlobPart[] = [head, header, new Uint8Array(pad4(header.length))];
  for (const d of [ds.train, ds.validation]) {
    const views = [d.tokens, d.offsets, d.lines, d.trained] as ArrayBufferView<ArrayBuffer>[];
    parts.push(...views, new Uint8Array(pad4(d.trained.length)));
  }
  return new Blob(parts);
}

export function decodeRunDataset(buf: ArrayBuffer): RunDataset {
  const head = new Uint32Array(buf, 0, 3);
  if (buf.byteLength < 12 || head[0] !== MAGIC) throw new Error('The dataset file kept with this run is not one Whetstone wrote.');
  if (head[1] !== VERSION) throw new Error(`The dataset file kept with this run has version ${head[1]}; this version of Whetstone reads version ${VERSION}.`);
  let at = 12;
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, at, head[2]))) as { info: DatasetInfo; train: SplitMeta; validation: SplitMeta };
  at += head[2] + pad4(head[2]);
  const take = <T>(make: (b: ArrayBuffer) => T, bytes: number): T => {
    if (at + bytes > buf.byteLength) throw new Error('The dataset file kept with this run is cut short.');
    const out = make(buf.slice(at, at + bytes));
    at += bytes;
    return out;
  };
  const split = (m: SplitMeta): TokenizedDataset => {
    const [nTokens, nOffsets, nLines] = m.sizes;
    const tokens = take((b) => new Int32Array(b), nTokens * 4);
    const offsets = take((b) => new Int32Array(b), nOffsets * 4);
    const lines = take((b) => new Int32Array(b), nLines * 4);
    const trained = take((b) => new Uint8Array(b), nTokens);
    at += pad4(nTokens);
    const { sizes, ...rest } = m;
    void sizes;
    return { ...rest, tokens, offsets, lines, trained };
  };
  const train = split(header.train);
  const validation = split(header.validation);
  return { info: header.info, train, validation };
}

/** Keep the run's dataset with it; returns the bytes kept. */
export async function keepRunDataset(files: RunFiles, runId: string, ds: RunDataset): Promise<number> {
  return files.put(runId, DATASET_FILE, encodeRunDataset(ds));
}

/** The dataset kept with the run, or null when none was kept (runs from before, or it could not be written). */
export async function keptRunDataset(files: RunFiles, runId: string): Promise<RunDataset | null> {
  const blob = await files.get(runId, DATASET_FILE);
  return blob ? decodeRunDataset(await blob.arrayBuffer()) : null;
}

/**
 * The dataset a resumed run continues on: the one kept with it, else the loaded one when it is
 * the same data tokenized the same way (runs saved before datasets were kept, or a browser that
 * cleared the run's files).
 */
export async function datasetToResume(files: RunFiles, run: RunRecord, loaded: RunDataset | null): Promise<RunDataset> {
  const kept = run.datasetBytes ? await keptRunDataset(files, run.id) : null;
  if (kept) {
    if (kept.info.fingerprint !== run.dataset.fingerprint) throw new Error(`The dataset kept with this run does not match it (fingerprint ${kept.info.fingerprint}, the run's ${run.dataset.fingerprint}). Load ${run.dataset.name} in step 2 the way the run used it, then resume.`);
    return kept;
  }
  const gone = run.datasetBytes ? ' (the copy kept with the run is gone: the browser cleared this site’s files)' : '';
  if (!loaded) throw new Error(`This run’s dataset is not kept with it${gone}: load ${run.dataset.name} in step 2 with the run’s settings, then resume.`);
  if (loaded.info.fingerprint !== run.dataset.fingerprint) throw new Error(`This run was trained on ${run.dataset.name} with other settings; load it the same way to resume.`);
  return loaded;
}

/** Free what was kept for the run. */
export function freeRunFiles(files: RunFiles, runId: string): Promise<void> {
  return files.remove(runId);
}
