// Which model a run trains, remembered with the run so a resume can load it again by itself:
// the demo model, a URL and a Hugging Face repo (from the browser's cache once downloaded) are
// fetched again; a dropped or picked folder cannot be, so the run remembers its name and the page
// asks for it (or reopens it through a File System Access handle it kept, see
// src/ui/lib/folderHandles.ts).
import type { StoredModelSource } from '../train/checkpointStore';
import type { ModelSource } from './api';

/** What a run records about `source` (never the files themselves). */
export function storedSourceOf(source: ModelSource, modelName: string): StoredModelSource {
  switch (source.kind) {
    case 'demo':
      return { kind: 'demo' };
    case 'url':
      return { kind: 'url', baseUrl: source.baseUrl, name: source.name };
    case 'hub':
      return { kind: 'hub', repo: source.repo, revision: source.revision, endpoint: source.endpoint };
    case 'files':
      return { kind: 'folder', name: source.name ?? modelName };
  }
}
