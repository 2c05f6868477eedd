// The training benchmark page (bench/training.html), driven by bench/run-training.mjs in headless
// Chromium: window.runTrainingBench(cases) runs each case in a fresh dedicated worker
// (bench/trainingWorker.ts) and returns one result (or error) per case. Progress lines go to the
// console with a "[bench] " prefix (the runner prints them) and to the page.
import type { TrainingCase, TrainingCaseResult, WorkerMessage } from './trainingTypes';

export type CaseOutcome = { ok: true; result: TrainingCaseResult } | { ok: false; model: string; error: string };

function log(line: string): void {
  console.log(`[bench] ${line}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${line}\n`;
}

function runCase(kase: TrainingCase): Promise<CaseOutcome> {
  return new Promise((resolve) => {
    const worker = new Worker(new URL('./trainingWorker.ts', import.meta.url), { type: 'module', name: `bench ${kase.model}` });
    const done = (o: CaseOutcome) => {
      worker.terminate();
      resolve(o);
    };
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.type === 'progress') log(m.line);
      else if (m.type === 'result') done({ ok: true, result: m.result });
      else done({ ok: false, model: kase.model, error: m.message });
    };
    worker.onerror = (e) => done({ ok: false, model: kase.model, error: `worker failed: ${e.message}` });
    worker.postMessage(kase);
  });
}

export async function runTrainingBench(cases: TrainingCase[]): Promise<CaseOutcome[]> {
  const out: CaseOutcome[] = [];
  for (const c of cases) {
    const o = await runCase(c);
    if (!o.ok) log(`${c.model} failed: ${o.error}`);
    out.push(o);
  }
  return out;
}

declare global {
  interface Window {
    runTrainingBench: typeof runTrainingBench;
  }
}

window.runTrainingBench = runTrainingBench;
