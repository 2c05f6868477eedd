import { useState } from 'react';
import type { LoadProgressEvent } from '../../workers/api';
import { etaText } from '../lib/eta';
import { formatBytes, formatPercent } from '../lib/format';
import { useModelStore, loadDemoModel, loadHubModel, loadModelFiles, setQuantize } from '../stores/modelStore';
import type { BaseQuantization } from '../../util/quant';
import { useDeviceStore } from '../stores/deviceStore';
import { isActivePhase, useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { Alert } from './Alert';
import { DropZone } from './DropZone';
import { FilePicker } from './FilePicker';
import { SelectField, TextField } from './Field';
import { ModelFacts } from './ModelFacts';
import { Panel } from './Panel';
import { Progress } from './Progress';

const PHASE: Record<LoadProgressEvent['phase'], string> = {
  download: 'Downloading',
  weights: 'Uploading weights to the GPU',
  tokenizer: 'Reading the tokenizer',
  done: 'Done',
};

const QUANTIZE_OPTIONS: { value: BaseQuantization; label: string }[] = [
  { value: 'none', label: 'fp16 (2 bytes per weight)' },
  { value: 'int8', label: 'int8 (about 1 byte per linear-layer weight)' },
  { value: 'int4', label: 'int4 (about 0.75 bytes per linear-layer weight)' },
];

/** What each precision takes for the loaded model, or in general before one is loaded. */
function quantizeHelp(byQuantization: Record<BaseQuantization, number> | undefined, loadedAs: BaseQuantization | undefined): string {
  const general =
    'Quantizing the frozen base (QLoRA-style) at load lets a bigger model fit: its linear layers are stored in 8 or 4 bits and dequantized inside the matmul kernels; ' +
    'embeddings, norms, the LoRA adapter, optimizer state and activations stay as they are. LoRA and prompt tuning train as usual; full fine-tuning needs fp16.';
  if (!byQuantization) return general;
  const each = QUANTIZE_OPTIONS.map((o) => `${o.value === 'none' ? 'fp16' : o.value} ${formatBytes(byQuantization[o.value])}`).join(', ');
  return `Base weights of this model: ${each} (loaded as ${loadedAs && loadedAs !== 'none' ? loadedAs : 'fp16'}; a change applies when a model is loaded). ${general}`;
}

function progressText(p: LoadProgressEvent, etaSeconds: number | null): string {
  const file = p.file ? ` ${p.file}` : '';
  const cache = p.fromCache ? ' (from the browser cache)' : '';
  const amount = p.bytesTotal ? `${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${formatPercent(p.bytesDone, p.bytesTotal)})` : formatBytes(p.bytesDone);
  const eta = p.phase === 'download' || p.phase === 'weights' ? etaText(etaSeconds) : '';
  return `${PHASE[p.phase]}${file}: ${amount}${cache}${eta}`;
}

export function ModelPanel() {
  const status = useModelStore((s) => s.status);
  const progress = useModelStore((s) => s.progress);
  const etaSeconds = useModelStore((s) => s.etaSeconds);
  const error = useModelStore((s) => s.error);
  const sourceLabel = useModelStore((s) => s.sourceLabel);
  const [repo, setRepo] = useState('');
  const [revision, setRevision] = useState('');
  const training = useRunStore((s) => isActivePhase(s.phase));
  const loading = status === 'loading';
  // a load clicked while the engine is still acquiring the GPU waits for it (the engine does)
  const gpuStarting = useDeviceStore((s) => s.status === 'idle' || s.status === 'starting');
  const busy = loading ? 'A model is loading.' : training ? 'Training is running: pause or stop it before changing the model.' : null;
  const locked = loading || training;
  const quantize = useModelStore((s) => s.quantize);
  const info = useModelStore((s) => s.info);

  return (
    <Panel id="model" step={1} title="Model" lede="The base model to adapt. Its weights stay frozen; training adds a small LoRA adapter on top.">
      <SelectField
        label="Base weights"
        value={quantize}
        onChange={setQuantize}
        options={QUANTIZE_OPTIONS}
        disabled={locked}
        help={quantizeHelp(info?.weightBytesByQuantization, info?.quantization)}
      />
      <div className="choices">
        <div className="choice">
          <h3>Try it first</h3>
          <p className="help">A 260K-parameter model trained on children’s stories. Loads in a second, trains on any GPU.</p>
          <ActionButton onClick={() => void loadDemoModel()} blockedBy={busy} quietWhy>
            Use demo model (stories260K)
          </ActionButton>
        </div>
        <DropZone
          label="Model folder drop area"
          hint={
            <>
              <strong>Your own model:</strong> drop the folder here, or pick it. It needs <code>config.json</code>, <code>*.safetensors</code> and <code>tokenizer.json</code>; or drop a
              GGUF model file (<code>.gguf</code>: F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K tensors, e.g. Q4_K_M).
            </>
          }
          disabled={locked}
          onDrop={(d) => void loadModelFiles(d.files, d.folderName, d.handle)}
        >
          <FilePicker label="Choose model folder…" directory onFiles={(f) => void loadModelFiles(f)} disabled={locked} />
          <FilePicker label="Choose model files…" multiple secondary accept=".json,.safetensors,.model,.txt,.jinja,.gguf" onFiles={(f) => void loadModelFiles(f)} disabled={locked} />
        </DropZone>
        <form
          className="choice hub"
          aria-label="Download from Hugging Face"
          onSubmit={(e) => {
            e.preventDefault();
            if (!locked) void loadHubModel(repo, revision);
          }}
        >
          <h3>From Hugging Face</h3>
          <div className="row fields">
            <TextField label="Hugging Face repo id" value={repo} onChange={setRepo} placeholder="HuggingFaceTB/SmolLM2-135M" />
            <TextField label="Revision" value={revision} onChange={setRevision} placeholder="main" help="Branch, tag or commit (empty: main)." />
          </div>
          <button type="submit" className="secondary" aria-disabled={locked || undefined}>
            Download model
          </button>
          <p className="help">Files are fetched once and kept in this browser’s cache; nothing is uploaded.</p>
        </form>
      </div>

      {training && <p className="muted">Training is running: pause or stop it to change the model.</p>}
      {loading && (
        <div className="status-block" role="status">
          <p>Loading {sourceLabel}…</p>
          <Progress label="Model loading progress" value={progress?.bytesTotal ? progress.bytesDone : null} max={progress?.bytesTotal ?? 1} text={progress ? progressText(progress, etaSeconds) : gpuStarting ? 'Starting the GPU…' : 'Starting…'} />
        </div>
      )}
      {error && <Alert testId="model-error">{error}</Alert>}
      <ModelFacts />
    </Panel>
  );
}
