import { useState } from 'react';
import type { TrainMethod } from '../../train/config';
import { useJobStore } from '../stores/jobStore';
import { canSaveToFolder } from '../lib/downloadFiles';
import { etaText } from '../lib/eta';
import { formatBytes, formatPercent } from '../lib/format';
import { useExportStore, exportAdapter, importAdapter, type ExportKind } from '../stores/exportStore';
import { useRunStore } from '../stores/runStore';
import { useDatasetStore } from '../stores/datasetStore';
import { exportForCluster } from '../stores/recipeExport';
import { ActionButton } from './ActionButton';
import { Alert } from './Alert';
import { FilePicker } from './FilePicker';
import { SelectField } from './Field';
import { Panel } from './Panel';
import { Progress } from './Progress';

const CURRENT = '__current__';

/** Why an export does not exist for what this method trains (the engine refuses the same way). */
function refusal(kind: ExportKind, method: TrainMethod, dora: boolean): string | null {
  if (kind === 'peft' && method === 'full') return 'Full fine-tuning has no adapter: download the fine-tuned model instead.';
  if (kind === 'gguf' && method === 'lora' && dora) return 'llama.cpp’s GGUF adapters have no DoRA magnitude: download the merged model instead (DoRA folded into the weights) and convert it with convert_hf_to_gguf.py.';
  if (kind === 'gguf' && method === 'ia3') return 'llama.cpp’s GGUF adapters add a low-rank update; an (IA)³ vector rescales whole rows or columns of a weight: download the merged model instead (the vectors folded into the weights) and convert it with convert_hf_to_gguf.py.';
  if ((kind === 'gguf' || kind === 'merged') && method === 'prefix') return 'A prefix is key/value positions every layer attends to, not a change of any weight: there is no merged model, and llama.cpp has no prefix-tuning adapters. Download the PEFT adapter (PREFIX_TUNING) instead.';
  if (kind === 'gguf' && method === 'bottleneck') return 'llama.cpp has no bottleneck adapters: download the adapter files (AdapterHub adapters layout) instead.';
  if (kind === 'merged' && method === 'bottleneck') return 'A bottleneck adapter cannot be merged into the weights (its non-linearity sits between the down- and up-projection): download the adapter files and load them with the adapters library.';
  if (kind === 'gguf' && method !== 'lora') return 'GGUF adapters are LoRA only: use the PEFT files or the model instead.';
  if (kind === 'merged' && method === 'prompt') return 'Prompt tuning changes no weights: download the PEFT prompt-tuning files instead.';
  return null;
}

export function ExportPanel() {
  const runs = useRunStore((s) => s.runs);
  const liveRunId = useRunStore((s) => s.liveRunId);
  const jobMethod = useJobStore((s) => s.config.method ?? 'lora');
  const busy = useExportStore((s) => s.busy);
  const saved = useExportStore((s) => s.saved);
  const error = useExportStore((s) => s.error);
  const progress = useExportStore((s) => s.progress);
  const etaSeconds = useExportStore((s) => s.etaSeconds);
  const imported = useExportStore((s) => s.imported);
  const importError = useExportStore((s) => s.importError);
  const held = useExportStore((s) => s.held);
  const [picked, setPicked] = useState<string | null>(null);
  const [dtype, setDtype] = useState<'float16' | 'float32'>('float16');
  const [recipeStart, setRecipeStart] = useState<'initial' | 'checkpoint'>('initial');
  const jobDatasetName = useDatasetStore((s) => (s.status === 'ready' ? s.info?.name : undefined));
  // Saved runs export from their last checkpoint; "in memory" is what was just trained or imported.
  const exportable = runs.filter((r) => r.checkpointStep > 0);
  const heldRun = held?.kind === 'run' ? runs.find((r) => r.id === held.runId) : undefined;
  const heldMethod: TrainMethod = held?.kind === 'import' ? (imported?.method ?? 'lora') : (heldRun?.method ?? jobMethod);
  const options = [
    ...(held ? [{ value: CURRENT, label: held.kind === 'import' ? 'The imported adapter (in memory)' : 'What was just trained (in memory)' }] : []),
    ...exportable.map((r) => ({ value: r.id, label: `${r.name} (checkpoint at step ${r.checkpointStep})` })),
  ];
  const choice = picked !== null && options.some((o) => o.value === picked) ? picked : (options[0]?.value ?? CURRENT);
  const runId = choice === CURRENT ? undefined : choice;
  const method: TrainMethod = runId ? (runs.find((r) => r.id === runId)?.method ?? 'lora') : heldMethod;
  const dora = runId ? !!runs.find((r) => r.id === runId)?.dora : held?.kind === 'import' ? !!imported?.dora : !!heldRun?.dora;
  const heldRunId = held?.kind === 'run' ? held.runId : liveRunId;
  const runName = runs.find((r) => r.id === (runId ?? heldRunId))?.name ?? (held?.kind === 'import' ? 'imported' : 'whetstone');
  const haveAdapter = options.length > 0;
  const blocker = !haveAdapter ? 'Train (step 4) or import an adapter first.' : busy ? 'An export is running.' : null;
  const why = (kind: ExportKind) => blocker ?? refusal(kind, method, dora);
  const go = (kind: ExportKind, toFolder = false) => void exportAdapter(kind, runId, runName, kind === 'merged' && method === 'full' ? { dtype } : undefined, toFolder);
  const folders = canSaveToFolder();
  // Export for a cluster: the picked (or just trained) run, else the job form with the loaded dataset
  const recipeRunId = runId ?? (held?.kind === 'run' ? held.runId : undefined);
  const recipeRun = recipeRunId ? runs.find((r) => r.id === recipeRunId) : undefined;
  const recipeMethod: TrainMethod = recipeRun?.method ?? jobMethod;
  const recipeBlocker = busy
    ? 'An export is running.'
    : recipeMethod !== 'lora'
      ? 'Only LoRA jobs are exported for a cluster.'
      : !recipeRun && !jobDatasetName
        ? 'Load a model and a dataset (steps 1 and 2) first.'
        : null;

  return (
    <Panel id="export" step={6} title="Export" lede="Take the result with you: for Hugging Face PEFT, for llama.cpp (GGUF), or as a whole model.">
      <div className="export">
        {haveAdapter ? <SelectField label="What to export" value={choice} onChange={setPicked} options={options} /> : null}
        <div className="export-buttons">
          <div className="export-option">
            <ActionButton onClick={() => go('peft')} blockedBy={why('peft')} busy={busy === 'peft'} quietWhy={!!blocker}>
              {method === 'bottleneck' ? 'Download adapter (adapters library)' : 'Download PEFT adapter'}
            </ActionButton>
            {folders && (
              <ActionButton small secondary onClick={() => go('peft', true)} blockedBy={why('peft')} quietWhy label="Save PEFT adapter into a folder">
                Save into a folder…
              </ActionButton>
            )}
            <span className="help">
              <code>adapter_model.safetensors</code> + <code>adapter_config.json</code> in one .zip{folders ? ' (or written into a folder you pick)' : ''}, {method === 'bottleneck' ? (
                <>
                  ; a bottleneck run gives <code>adapter_config.json</code> + <code>adapter.safetensors</code> as the AdapterHub <code>adapters</code> library saves them, for <code>model.load_adapter</code>.
                </>
              ) : (
                <>
                  , for <code>PeftModel.from_pretrained</code> (LoRA, DoRA, (IA)³, prompt or prefix tuning).
                </>
              )}
            </span>
          </div>
          <div className="export-option">
            <ActionButton secondary onClick={() => go('gguf')} blockedBy={why('gguf')} busy={busy === 'gguf'} quietWhy={!!blocker}>
              Download GGUF adapter
            </ActionButton>
            <span className="help">
              For llama.cpp: <code>--lora adapter.gguf</code> with the base model’s GGUF.
            </span>
          </div>
          <div className="export-option">
            <ActionButton secondary onClick={() => go('merged')} blockedBy={why('merged')} busy={busy === 'merged'} quietWhy={!!blocker}>
              {method === 'full' ? 'Download fine-tuned model' : 'Download merged model'}
            </ActionButton>
            {folders && (
              <ActionButton small secondary onClick={() => go('merged', true)} blockedBy={why('merged')} quietWhy label={method === 'full' ? 'Save fine-tuned model into a folder' : 'Save merged model into a folder'}>
                Save into a folder…
              </ActionButton>
            )}
            <span className="help">
              {method === 'full' ? 'Every fine-tuned weight (safetensors + config + tokenizer) in one .zip.' : 'Base weights with the adapter folded in (safetensors + config + tokenizer) in one .zip.'} As large as the model.
            </span>
            {method === 'full' && (
              <SelectField<'float16' | 'float32'>
                label="Weights as"
                value={dtype}
                onChange={setDtype}
                options={[
                  { value: 'float16', label: 'float16 (half the size)' },
                  { value: 'float32', label: 'float32 (the exact trained values)' },
                ]}
              />
            )}
          </div>
        </div>
        <div className="export-option" data-testid="cluster-export">
          <ActionButton
            secondary
            onClick={() => void exportForCluster({ runId: recipeRunId, datasetName: recipeRun?.datasetName, start: recipeRun && recipeRun.checkpointStep > 0 ? recipeStart : 'initial', name: recipeRun?.name ?? `${jobDatasetName ?? 'job'}` })}
            blockedBy={recipeBlocker}
            busy={busy === 'recipe'}
          >
            Export for a cluster
          </ActionButton>
          {recipeRun && recipeRun.checkpointStep > 0 && (
            <SelectField<'initial' | 'checkpoint'>
              label="Start the cluster run from"
              value={recipeStart}
              onChange={setRecipeStart}
              options={[
                { value: 'initial', label: 'step 0 (repeat this run on the cluster)' },
                { value: 'checkpoint', label: `the checkpoint at step ${recipeRun.checkpointStep} (continue it)` },
              ]}
            />
          )}
          <span className="help">
            {recipeRun ? `This run (${recipeRun.name})` : 'The job as set in step 3, on the loaded dataset,'} as a folder for Hugging Face transformers + peft with <code>accelerate launch</code>: <code>train.py</code>, the exact batches the studio trains on, the first adapter, accelerate configs, an Axolotl YAML and a README. Bring the result back with “Import an adapter” below.
          </span>
        </div>
        {blocker && !busy && <p className="muted">{blocker}</p>}
        {busy && busy !== 'import' && <p role="status">Preparing the files…</p>}
        {busy === 'merged' && progress && (
          <Progress
            label="Export progress"
            value={progress.bytesTotal ? progress.bytesDone : null}
            max={progress.bytesTotal ?? 1}
            text={
              progress.phase === 'reading'
                ? `Reading the weights${progress.bytesTotal ? `: ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)} (${formatPercent(progress.bytesDone, progress.bytesTotal)})` : ''}${etaText(etaSeconds)}`
                : 'Writing model.safetensors…'
            }
          />
        )}
        {saved.length > 0 && (
          <p role="status" className="ok">
            Saved {saved.join(', ')}.
          </p>
        )}
        {error && <Alert testId="export-error">{error}</Alert>}

        <div className="import">
          <h3>Import an adapter</h3>
          <p className="help">
            Pick <code>adapter_config.json</code> and <code>adapter_model.safetensors</code> (a PEFT LoRA, DoRA, (IA)³, prompt- or prefix-tuning adapter for the loaded model) to try it in the playground or export it.
          </p>
          <FilePicker label="Choose adapter files…" multiple secondary accept=".json,.safetensors" onFiles={(f) => void importAdapter(f)} disabled={busy === 'import'} />
          {busy === 'import' && <p role="status">Importing…</p>}
          {imported && (
            <p role="status" className="ok" data-testid="imported-adapter">
              Imported {imported.files.join(' + ')}:{' '}
              {imported.method === 'prompt'
                ? `prompt tuning, ${imported.numVirtualTokens ?? '?'} virtual tokens.`
                : imported.method === 'prefix'
                  ? `prefix tuning, ${imported.numVirtualTokens ?? '?'} key/value positions in every layer.`
                  : imported.method === 'ia3'
                    ? `(IA)³ vectors on ${imported.targetModules.join(', ')}.`
                    : `rank ${imported.rank}, alpha ${imported.alpha}, on ${imported.targetModules.join(', ')}.`}
            </p>
          )}
          {importError && <Alert testId="import-error">{importError}</Alert>}
        </div>
      </div>
    </Panel>
  );
}
