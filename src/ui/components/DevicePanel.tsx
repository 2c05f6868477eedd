import { useDeviceStore, runGpuSelfTest } from '../stores/deviceStore';
import { KernelTuning } from './KernelTuning';

function bytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}

export function DevicePanel() {
  const status = useDeviceStore((s) => s.status);
  const adapter = useDeviceStore((s) => s.adapter);
  const selfTest = useDeviceStore((s) => s.selfTest);

  return (
    <section className="panel" aria-labelledby="device-title">
      <h2 id="device-title">GPU</h2>
      {status === 'starting' && <p>Connecting to the GPU…</p>}
      {adapter && (
        <dl className="facts" aria-label="GPU adapter">
          <dt>Adapter</dt>
          <dd data-testid="adapter-name">{adapter.name}</dd>
          <dt>Kind</dt>
          <dd data-testid="adapter-kind">
            {adapter.isSoftware ? 'Software (CPU) adapter: correct but slow; fine for the demo model' : 'Hardware GPU'}
          </dd>
          <dt>fp16</dt>
          <dd>{adapter.fp16Mode === 'shader-f16' ? 'shader-f16 (native half precision)' : 'packed in u32 (no shader-f16)'}</dd>
          <dt>Largest buffer</dt>
          <dd>{bytes(adapter.limits.maxBufferSize)}</dd>
          <dt>Features</dt>
          <dd>
            {[adapter.features.subgroups && 'subgroups', adapter.features.timestampQuery && 'timestamp-query']
              .filter(Boolean)
              .join(', ') || 'none'}
          </dd>
        </dl>
      )}
      {status === 'ready' && (
        <div className="row">
          <button type="button" onClick={() => void runGpuSelfTest()} disabled={selfTest.running}>
            {selfTest.running ? 'Running self-test…' : 'Run GPU self-test'}
          </button>
        </div>
      )}
      {selfTest.error && (
        <p role="alert" className="error">
          Self-test failed to run: {selfTest.error}
        </p>
      )}
      {selfTest.results && (
        <p className={selfTest.results.every((r) => r.passed) ? 'ok' : 'error'}>
          {selfTest.results.filter((r) => r.passed).length} of {selfTest.results.length} checks passed.
        </p>
      )}
      {selfTest.results && (
        // The sidebar is narrow: the table scrolls sideways inside it (focusable, for keyboards).
        <div className="table-scroll" tabIndex={0} role="group" aria-label="Self-test results, scrollable">
          <table aria-label="Self-test results" className="results">
            <thead>
              <tr>
                <th>Op</th>
                <th>Variant</th>
                <th>Shape (M×N×K)</th>
                <th>Max abs. error</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {selfTest.results.map((r) => (
                <tr key={`${r.variant}-${r.shape}`}>
                  <td>{r.op}</td>
                  <td>{r.variant}</td>
                  <td>{r.shape}</td>
                  <td>{r.maxAbsErr.toExponential(2)}</td>
                  <td className={r.passed ? 'ok' : 'error'}>{r.passed ? 'pass' : `FAIL (${r.mismatches} values)`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {status === 'ready' && <KernelTuning />}
    </section>
  );
}
