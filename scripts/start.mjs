// `npm start`: make sure the demo model exists, then serve the studio and print its URL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (existsSync('scripts/demo-model.mjs')) {
  const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const port = process.env.PORT ?? '5173';
console.log(`\nWhetstone: open http://127.0.0.1:${port}/ in Chrome or Edge 121+ (Linux without a GPU: chromium --enable-unsafe-webgpu)\n`);
const vite = spawn('npx', ['vite', '--host', '127.0.0.1', '--port', port, '--strictPort'], { stdio: 'inherit' });
vite.on('exit', (code) => process.exit(code ?? 0));
