// Loading model folders from disk onto the test GPU.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GpuContext } from '../../gpu/device';
import { CausalLM } from '../causalLM';
import { folderFromDirectory } from '../folderNode';
import { loadWeights, readModelAssets } from '../load';

export const REPO_ROOT = join(import.meta.dirname, '../../..');
export const DEMO_MODEL_DIR = join(REPO_ROOT, 'public/models/stories260K');
export const FIXTURES_DIR = join(REPO_ROOT, 'src/model/fixtures');

export async function loadModelDir(ctx: GpuContext, dir: string): Promise<CausalLM> {
  if (!existsSync(join(dir, 'config.json'))) {
    throw new Error(`${dir} has no config.json: run \`npm run demo-model\` first (npm test does it).`);
  }
  const folder = await folderFromDirectory(dir);
  const assets = await readModelAssets(folder);
  const weights = await loadWeights(ctx, folder, assets);
  return new CausalLM(ctx, assets, weights);
}
