import { METHOD_CHOICES, type MethodKey } from '../../train/methodComparison';
import { formatBytes, formatCount } from '../lib/format';
import { setJobField, setJobMethod, useJobStore } from '../stores/jobStore';
import { compareMethods, useMethodCompareStore } from '../stores/methodCompareStore';

function choose(key: MethodKey): void {
  const choice = METHOD_CHOICES.find((c) => c.key === key);
  if (!choice) return;
  setJobMethod(choice.method);
  if (key === 'dora') {
    setJobField('useDora', true);
    setJobField('dropout', 0);
  } else if (key === 'lora') setJobField('useDora', false);
}

/** Every method on the loaded model as a job of this shape: trainable parameters, memory, and the step time measured on this GPU. */
export function MethodComparison() {
  const config = useJobStore((s) => s.config);
  const modelLoaded = useJobStore((s) => s.modelLoaded);
  const { rows, status, progress, shape, error } = useMethodCompareStore();
  if (!modelLoaded) return null;
  const busy = status !== 'idle';
  const fastest = rows ? Math.min(...rows.map((r) => r.stepMs ?? Infinity)) : Infinity;
  return (
    <details className="method-compare" onToggle={(e) => (e.currentTarget as HTMLDetailsElement).open && !rows && !busy && void compareMethods(config, false)}>
      <summary>Compare the methods on this model</summary>
      <div className="method-compare-actions">
        <button type="button" className="secondary small" disabled={busy} onClick={() => void compareMethods(config, true)}>
          Measure speed on this GPU
        </button>
        <button type="button" className="link" disabled={busy} onClick={() => void compareMethods(config, false)}>
          Refresh for the job as edited
        </button>
        {status === 'measuring' && (
          <span role="status">
            Measuring{progress && progress.total > 0 ? ` ${progress.label} (${Math.min(progress.done + 1, progress.total)} of ${progress.total})` : ''}…
          </span>
        )}
        {status === 'estimating' && <span role="status">Estimating…</span>}
      </div>
      {error && <p className="error">{error}</p>}
      {rows && (
        <div className="table-scroll">
        <table data-testid="method-comparison">
          <caption>For {shape}: trainable parameters and GPU memory from the same estimate the run is checked against; step time measured here (a few steps on a synthetic batch).</caption>
          <thead>
            <tr>
              <th scope="col">Method</th>
              <th scope="col">Trainable parameters</th>
              <th scope="col">GPU memory</th>
              <th scope="col">Step time</th>
              <th scope="col">When to choose it</th>
              <th scope="col" aria-label="Choose" />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-method={r.key}>
                <th scope="row">{r.label}</th>
                <td>{r.trainableParams === null ? '—' : formatCount(r.trainableParams)}</td>
                <td>{r.memoryBytes === null ? '—' : `${formatBytes(r.memoryBytes)}${r.fits ? '' : ' (does not fit)'}`}</td>
                <td>{r.stepMs === undefined ? '—' : `${r.stepMs.toFixed(0)} ms${Number.isFinite(fastest) && fastest > 0 ? ` (${(r.stepMs / fastest).toFixed(1)}×)` : ''}`}</td>
                <td>
                  {r.when}
                  {r.why && <span className="help"> {r.why}</span>}
                </td>
                <td>
                  {r.trainableParams !== null && (
                    <button type="button" className="link" onClick={() => choose(r.key)} aria-label={`Choose ${r.label}`}>
                      Choose
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </details>
  );
}
