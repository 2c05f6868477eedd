import { useState } from 'react';
import { useExportStore, exportAdapter, importAdapter, type ExportKind } from '../stores/exportStore';
import { useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { Alert } from './Alert';
import { FilePicker } from './FilePicker';
import { SelectField } from './Field';
import { Panel } from './Panel';

const CURRENT = '__current__';

export function ExportPanel() {
  const runs = useRunStore((s) => s.runs);
  const liveRunId = useRunStore((s) => s.liveRunId);
  const busy = useExportStore((s) => s.busy);
  const saved = useExportStore((s) => s.saved);
  const error = useExportStore((s) => s.error);
  const imported = useExportStore((s) => s.imported);
  const importError = useExportStore((s) => s.importError);
  const held = useExportStore((s) => s.held);
  const [picked, setPicked] = useState<string | null>(null);
  // Saved runs export from their last checkpoint; "in memory" is the adapter just trained or imported.
  const exportable = runs.filter((r) => r.checkpointStep > 0);
  const options = [...(held ? [{ value: CURRENT, label: held.kind === 'import' ? 'The imported adapter (in memory)' : 'The adapter just trained (in memory)' }] : []), ...exportable.map((r) => ({ value: r.id, label: `${r.name} (checkpoint at step ${r.checkpointStep})` }))];
  const choice = picked !== null && options.some((o) => o.value === picked) ? picked : (options[0]?.value ?? CURRENT);
  const runId = choice === CURRENT ? undefined : choice;
  const heldRunId = held?.kind === 'run' ? held.runId : liveRunId;
  const runName = runs.find((r) => r.id === (runId ?? heldRunId))?.name ?? (held?.kind === 'import' ? 'imported' : 'whetstone');
  const haveAdapter = options.length > 0;
  const blocker = !haveAdapter ? 'Train (step 4) or import an adapter first.' : busy ? 'An export is running.' : null;
  const go = (kind: ExportKind) => void exportAdapter(kind, runId, runName);

  return (
    <Panel id="export" step={6} title="Export" lede="Take the adapter with you: for Hugging Face PEFT, for llama.cpp (GGUF), or merged into a full model.">
      <div className="export">
        {haveAdapter ? <SelectField label="Adapter to export" value={choice} onChange={setPicked} options={options} /> : null}
        <div className="export-buttons">
          <div className="export-option">
            <ActionButton onClick={() => go('peft')} blockedBy={blocker} busy={busy === 'peft'} quietWhy>
              Download PEFT adapter
            </ActionButton>
            <span className="help">
              <code>adapter_model.safetensors</code> + <code>adapter_config.json</code>, for <code>PeftModel.from_pretrained</code>.
            </span>
          </div>
          <div className="export-option">
            <ActionButton secondary onClick={() => go('peft-zip')} blockedBy={blocker} busy={busy === 'peft-zip'} quietWhy>
              Download PEFT adapter as .zip
            </ActionButton>
            <span className="help">The same two files in one archive.</span>
          </div>
          <div className="export-option">
            <ActionButton secondary onClick={() => go('gguf')} blockedBy={blocker} busy={busy === 'gguf'} quietWhy>
              Download GGUF adapter
            </ActionButton>
            <span className="help">
              For llama.cpp: <code>--lora adapter.gguf</code> with the base model’s GGUF.
            </span>
          </div>
          <div className="export-option">
            <ActionButton secondary onClick={() => go('merged')} blockedBy={blocker} busy={busy === 'merged'} quietWhy>
              Download merged model
            </ActionButton>
            <span className="help">Base weights with the adapter folded in (safetensors + config + tokenizer). As large as the model.</span>
          </div>
        </div>
        {blocker && !busy && <p className="muted">{blocker}</p>}
        {busy && busy !== 'import' && <p role="status">Preparing the files…</p>}
        {saved.length > 0 && (
          <p role="status" className="ok">
            Saved {saved.join(', ')}.
          </p>
        )}
        {error && <Alert testId="export-error">{error}</Alert>}

        <div className="import">
          <h3>Import an adapter</h3>
          <p className="help">
            Pick <code>adapter_config.json</code> and <code>adapter_model.safetensors</code> (a PEFT LoRA for the loaded model) to chat with it or export it.
          </p>
          <FilePicker label="Choose adapter files…" multiple secondary accept=".json,.safetensors" onFiles={(f) => void importAdapter(f)} disabled={busy === 'import'} />
          {busy === 'import' && <p role="status">Importing…</p>}
          {imported && (
            <p role="status" className="ok" data-testid="imported-adapter">
              Imported {imported.files.join(' + ')}: rank {imported.rank}, alpha {imported.alpha}, on {imported.targetModules.join(', ')}.
            </p>
          )}
          {importError && <Alert testId="import-error">{importError}</Alert>}
        </div>
      </div>
    </Panel>
  );
}
