import { formatBytes } from '../lib/format';
import { setJobField, useJobStore } from '../stores/jobStore';
import { MemoryBar } from './MemoryBar';

/** The memory estimate for the job as edited, and what activation checkpointing would change. */
export function MemoryEstimateView() {
  const estimate = useJobStore((s) => s.estimate);
  const status = useJobStore((s) => s.estimateStatus);
  const error = useJobStore((s) => s.estimateError);
  const modelLoaded = useJobStore((s) => s.modelLoaded);
  const checkpointing = useJobStore((s) => s.config.activationCheckpointing);
  const invalid = useJobStore((s) => s.issues.length > 0);

  return (
    <aside className="estimate" aria-labelledby="estimate-title" aria-busy={status === 'pending' || undefined}>
      <h3 id="estimate-title">GPU memory estimate</h3>
      {!modelLoaded && <p className="muted">Load a model in step 1 to see how much GPU memory this job needs.</p>}
      {modelLoaded && invalid && <p className="muted">Fix the highlighted settings to update the estimate.</p>}
      {error && <p className="error">{error}</p>}
      {estimate && (
        <div className={status === 'pending' ? 'stale' : undefined} data-testid="memory-estimate">
          <MemoryBar estimate={estimate} />
          {estimate.fits ? <p className="ok">Fits on this GPU.</p> : <p className="error">{estimate.advice ?? 'Does not fit on this GPU: lower the batch size or the sequence length.'}</p>}
          <p className="compare">
            Activation checkpointing is <strong>{checkpointing ? 'on' : 'off'}</strong>: activations take {formatBytes(estimate.activationsBytes)}. {checkpointing ? 'Off' : 'On'}, they would take {formatBytes(estimate.activationsOtherBytes)}
            {checkpointing ? ' (about 30% faster).' : ' (about 30% slower).'}{' '}
            <button type="button" className="link" onClick={() => setJobField('activationCheckpointing', !checkpointing)}>
              Turn it {checkpointing ? 'off' : 'on'}
            </button>
          </p>
          <p className="help">Largest single buffer: {formatBytes(estimate.largestBufferBytes)}.</p>
        </div>
      )}
    </aside>
  );
}
