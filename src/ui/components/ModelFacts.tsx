import { formatBytes, formatCount, formatInt } from '../lib/format';
import { useDeviceStore } from '../stores/deviceStore';
import { useJobStore } from '../stores/jobStore';
import { useModelStore } from '../stores/modelStore';
import { MemoryBar } from './MemoryBar';

/** What the loaded model is, where it runs, and whether the current job fits there. */
export function ModelFacts() {
  const info = useModelStore((s) => s.info);
  const adapter = useDeviceStore((s) => s.adapter);
  const estimate = useJobStore((s) => s.estimate);
  const estimateStatus = useJobStore((s) => s.estimateStatus);
  const estimateError = useJobStore((s) => s.estimateError);
  if (!info) return null;
  return (
    <div className="model-facts" data-testid="model-info">
      <dl className="facts" aria-label="Loaded model">
        <dt>Name</dt>
        <dd data-testid="model-name">{info.name}</dd>
        <dt>Architecture</dt>
        <dd>
          {info.architecture} <span className="muted">({info.hfArchitecture})</span>
        </dd>
        <dt>Parameters</dt>
        <dd>
          {formatCount(info.parameterCount)} <span className="muted">({formatInt(info.parameterCount)}, {formatBytes(info.weightBytes)} of weights)</span>
        </dd>
        <dt>Base weights</dt>
        <dd data-testid="model-precision">
          {info.quantization === 'int8'
            ? 'int8, quantized at load (linear layers; a scale per output row)'
            : info.quantization === 'int4'
              ? 'int4, quantized at load (linear layers; a scale and offset per 32 weights)'
              : 'fp16'}
          {info.quantization && info.quantization !== 'none' && <span className="muted"> (full fine-tuning needs fp16; a merged export is dequantized to fp16)</span>}
        </dd>
        <dt>Shape</dt>
        <dd>
          {info.layers} layers, hidden {info.hidden}, {info.heads} heads{info.kvHeads !== info.heads ? ` (${info.kvHeads} KV)` : ''}, vocabulary {formatInt(info.vocab)}, context {formatInt(info.maxPositions)}
          {info.tiedEmbeddings ? ', tied embeddings' : ''}
        </dd>
        <dt>Chat template</dt>
        <dd>{info.hasChatTemplate ? 'Yes (used for chat datasets and the playground’s chat mode)' : 'No (chat data uses a plain default template)'}</dd>
        <dt>Runs on</dt>
        <dd>
          {adapter ? (
            <>
              {adapter.name || adapter.vendor || 'WebGPU adapter'} <span className="muted">({adapter.isSoftware ? 'software adapter: slow, fine for the demo model' : 'hardware GPU'})</span>
            </>
          ) : (
            'No GPU yet'
          )}
        </dd>
      </dl>
      {info.notes.length > 0 && (
        <ul className="notes" aria-label="Notes about this model">
          {info.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
      <div className="fit">
        <h3>Memory for the current job</h3>
        {estimate ? <MemoryBar estimate={estimate} compact /> : <p className="muted">{estimateStatus === 'pending' ? 'Estimating…' : estimateError ?? 'Fix the job settings in step 3 to see the estimate.'}</p>}
        {estimate && !estimate.fits && estimate.advice && <p className="error">{estimate.advice}</p>}
        {adapter && (
          <p className="help">
            Largest buffer on this GPU: {formatBytes(Math.min(adapter.limits.maxBufferSize, adapter.limits.maxStorageBufferBindingSize))}
            {estimate ? `; this job’s largest: ${formatBytes(estimate.largestBufferBytes)}.` : '.'}
          </p>
        )}
      </div>
    </div>
  );
}
