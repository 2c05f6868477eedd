// The handle of a dropped folder is asked for during the drop event: the browser empties the
// DataTransfer's items once the event handler returns (after the first await here).
import { describe, expect, it } from 'vitest';
import { filesFromDrop } from './dropFiles';

function droppedFolder(name: string, files: File[]) {
  let live = true;
  const handle = { kind: 'directory', name };
  const entry = {
    isFile: false,
    isDirectory: true,
    name,
    createReader: () => {
      let read = false;
      return {
        readEntries: (ok: (e: unknown[]) => void) => {
          const batch = read ? [] : files.map((f) => ({ isFile: true, isDirectory: false, name: f.name, file: (res: (f: File) => void) => res(f) }));
          read = true;
          ok(batch);
        },
      };
    },
  };
  const item = {
    kind: 'file',
    webkitGetAsEntry: () => (live ? entry : null),
    getAsFileSystemHandle: () => (live ? Promise.resolve(handle) : Promise.reject(new DOMException('gone', 'InvalidStateError'))),
  };
  const dt = { items: [item], files: [] } as unknown as DataTransfer;
  // the event ends at the first await of the reader
  queueMicrotask(() => (live = false));
  return { dt, handle };
}

describe('filesFromDrop', () => {
  it('returns the folder’s files, its name and its handle (asked for before the event ended)', async () => {
    const files = [new File(['{}'], 'config.json'), new File(['x'], 'model.safetensors')];
    const { dt, handle } = droppedFolder('my-model', files);
    const out = await filesFromDrop(dt);
    expect(out.files.map((f) => f.name)).toEqual(['config.json', 'model.safetensors']);
    expect(out.folderName).toBe('my-model');
    expect(out.handle).toBe(handle);
  });

  it('gives no handle where the browser has none (files only)', async () => {
    const f = new File(['a'], 'data.jsonl');
    const out = await filesFromDrop({ items: [{ kind: 'file', webkitGetAsEntry: () => ({ isFile: true, isDirectory: false, name: f.name, file: (res: (f: File) => void) => res(f) }) }], files: [f] } as unknown as DataTransfer);
    expect(out.files).toEqual([f]);
    expect(out.handle).toBeUndefined();
  });
});
