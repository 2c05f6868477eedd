import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  // Pre-bundle every dependency up front: deps discovered late (inside the worker) make the dev
  // server reload the page mid-test.
  optimizeDeps: {
    entries: ['index.html', 'cli.html', 'src/workers/engine.worker.ts'],
    include: ['comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja', 'papaparse', 'react', 'react-dom', 'react-dom/client', 'zustand', 'uplot', 'fflate'],
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: { target: 'es2022' },
});
