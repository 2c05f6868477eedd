import { defineConfig } from 'vite';

// No React plugin: Vite's own transform handles JSX (automatic runtime), and without the plugin's
// fast-refresh preamble the dev server serves no inline script, so the Content-Security-Policy in
// index.html (no inline script) holds in development, in tests and in production alike.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic' } },
  worker: { format: 'es' },
  // Pre-bundle every dependency up front: deps discovered late (inside the worker) make the dev
  // server reload the page mid-test.
  optimizeDeps: {
    entries: ['index.html', 'cli.html', 'src/workers/engine.worker.ts'],
    include: ['comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja', 'papaparse', 'react', 'react-dom', 'react-dom/client', 'react/jsx-dev-runtime', 'react/jsx-runtime', 'zustand', 'uplot', 'fflate'],
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: { target: 'es2022', rollupOptions: { input: { main: 'index.html' } } },
});
