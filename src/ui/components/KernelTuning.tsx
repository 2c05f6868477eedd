import { formatDuration } from '../lib/format';
import { useModelStore } from '../stores/modelStore';
import { isActivePhase, useRunStore } from '../stores/runStore';
import { tuneKernels, useTuningStore } from '../stores/tuningStore';
import { ActionButton } from './ActionButton';
import { Progress } from './Progress';

function speedup(winnerMs: number | null, defaultMs: number | null): string {
  if (winnerMs === null || defaultMs === null || winnerMs <= 0) return '—';
  return `${(defaultMs / winnerMs).toFixed(2)}×`;
}

/** Which matmul kernels run on this GPU for the job's shapes, and a button that times them. */
export function KernelTuning() {
  const modelReady = useModelStore((s) => s.status === 'ready');
  const training = useRunStore((s) => isActivePhase(s.phase));
  const running = useTuningStore((s) => s.running);
  const progress = useTuningStore((s) => s.progress);
  const startedAt = useTuningStore((s) => s.startedAt);
  const report = useTuningStore((s) => s.report);
  const reportFor = useTuningStore((s) => s.reportFor);
  const error = useTuningStore((s) => s.error);
  const blockedBy = !modelReady ? 'Load a model first: the kernels are timed on its shapes.' : training ? 'Pause the run first: timing kernels while training would measure both.' : null;
  const tuned = report?.shapes.length ?? 0;
  const measuredNow = report?.shapes.filter((s) => s.source === 'measured').length ?? 0;
  let eta = '';
  if (running && progress && progress.done > 0 && startedAt !== null) {
    const elapsed = (Date.now() - startedAt) / 1000;
    eta = ` · ETA ${formatDuration((elapsed / progress.done) * (progress.total - progress.done))}`;
  }

  return (
    <div className="kernel-tuning" role="group" aria-labelledby="kernels-title">
      <h3 id="kernels-title">Kernels</h3>
      <p className="muted" data-testid="kernel-tuning-summary">
        {!report
          ? 'Default kernel choices for this kind of GPU.'
          : tuned === 0
            ? `Default kernel choices: none of this job's ${report.total} matmul shapes (${reportFor}) is tuned on this GPU yet.`
            : `${tuned} of ${report.total} matmul shapes tuned for this GPU (${reportFor})${measuredNow > 0 ? `, ${measuredNow} timed just now in ${formatDuration(report.seconds)}` : ''}; runs use them.`}
      </p>
      <div className="row">
        <ActionButton onClick={() => void tuneKernels()} blockedBy={blockedBy} busy={running} secondary testId="tune-kernels">
          {running ? 'Timing kernels…' : 'Tune kernels for this job'}
        </ActionButton>
      </div>
      {running && (
        <Progress
          label="Kernel tuning progress"
          value={progress?.done ?? 0}
          max={Math.max(1, progress?.total ?? 1)}
          text={progress ? `Shape ${Math.min(progress.done + 1, progress.total)} of ${progress.total}${progress.what ? `: ${progress.what}` : ''}${eta}` : 'Starting…'}
        />
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {report && tuned > 0 && (
        <details>
          <summary>Chosen kernels ({tuned})</summary>
          <div className="table-scroll" tabIndex={0} role="group" aria-label="Tuned kernels, scrollable">
            <table aria-label="Tuned kernels" className="results">
              <thead>
                <tr>
                  <th>Problem (m×n×k)</th>
                  <th>Kernel</th>
                  <th title="speed-up over the default kernel">Gain</th>
                </tr>
              </thead>
              <tbody>
                {report.shapes.map((s) => (
                  <tr key={s.key}>
                    <td>
                      {s.problem}
                      <br />
                      <span className="muted">{s.uses.slice(0, 2).join(', ') + (s.uses.length > 2 ? ` +${s.uses.length - 2}` : '')}</span>
                    </td>
                    <td>{s.winner}</td>
                    <td title={`default: ${s.defaultVariant}`}>{s.winner === s.defaultVariant ? '1×' : speedup(s.winnerMs, s.defaultMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </div>
  );
}
