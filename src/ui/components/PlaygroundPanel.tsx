import { useId } from 'react';
import { useDeviceStore } from '../stores/deviceStore';
import { useExportStore } from '../stores/exportStore';
import { useModelStore } from '../stores/modelStore';
import { generate, samplingProblems, setCompare, setMode, setPrompt, setSampling, usePlaygroundStore, type Answer } from '../stores/playgroundStore';
import { useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { CheckboxField, NumberField, RadioGroup } from './Field';
import { Panel } from './Panel';

export function PlaygroundPanel() {
  const mode = usePlaygroundStore((s) => s.mode);
  const prompt = usePlaygroundStore((s) => s.prompt);
  const sampling = usePlaygroundStore((s) => s.sampling);
  const compare = usePlaygroundStore((s) => s.compare);
  const busy = usePlaygroundStore((s) => s.busy);
  const base = usePlaygroundStore((s) => s.base);
  const adapter = usePlaygroundStore((s) => s.adapter);
  const gpuReady = useDeviceStore((s) => s.status === 'ready');
  const modelReady = useModelStore((s) => s.status === 'ready');
  const training = useRunStore((s) => s.phase === 'running' || s.phase === 'starting' || s.phase === 'pausing' || s.phase === 'stopping');
  const hasAdapter = useExportStore((s) => s.held !== null);
  const problems = samplingProblems(sampling);
  const promptId = useId();

  const blocker = !gpuReady ? 'The GPU is not ready.' : !modelReady ? 'Load a model in step 1 first.' : training ? 'Wait for training to pause or finish (the GPU is busy).' : !prompt.trim() ? 'Write a prompt first.' : Object.keys(problems).length ? 'Fix the sampling settings first.' : null;

  return (
    <Panel id="playground" step={5} title="Playground" lede="Ask the model something and compare the base model with the fine-tuned one, side by side, as the tokens arrive.">
      <div className="playground">
        <div className="prompt-side">
          <RadioGroup
            legend="Mode"
            value={mode}
            onChange={setMode}
            options={[
              { value: 'prompt', label: 'Continue a prompt' },
              { value: 'chat', label: 'Chat (uses the chat template)' },
            ]}
          />
          <div className="field">
            <label htmlFor={promptId}>{mode === 'chat' ? 'Message' : 'Prompt'}</label>
            <textarea id={promptId} rows={5} value={prompt} onChange={(e) => setPrompt(e.currentTarget.value)} spellCheck={false} />
          </div>
          <CheckboxField label="Also answer with the base model (compare)" checked={compare} onChange={setCompare} />
          <div className="row buttons">
            <ActionButton onClick={() => void generate(hasAdapter)} blockedBy={blocker} busy={busy} testId="generate">
              {busy ? 'Generating…' : 'Generate'}
            </ActionButton>
          </div>
          {!hasAdapter && <p className="help">Nothing fine-tuned in memory yet: train (step 4) or import an adapter (step 6). Until then only the base model answers.</p>}
          <fieldset className="group sampling">
            <legend>Sampling</legend>
            <div className="field-grid">
              <NumberField label="Max new tokens" integer value={sampling.maxTokens} error={problems.maxTokens} onChange={(v) => setSampling('maxTokens', v)} />
              <CheckboxField label="Greedy (always the most likely token)" checked={sampling.greedy} onChange={(v) => setSampling('greedy', v)} />
              <NumberField label="Temperature" value={sampling.temperature} error={problems.temperature} disabled={sampling.greedy} help="Higher is more varied, lower more predictable." onChange={(v) => setSampling('temperature', v)} />
              <NumberField label="Top-k" integer value={sampling.topK} error={problems.topK} disabled={sampling.greedy} help="Sample among the k most likely tokens (0 = all)." onChange={(v) => setSampling('topK', v)} />
              <NumberField label="Top-p" value={sampling.topP} error={problems.topP} disabled={sampling.greedy} help="Sample among the most likely tokens that make up this share of probability." onChange={(v) => setSampling('topP', v)} />
              <NumberField label="Sampling seed" integer value={sampling.seed} error={problems.seed} help="Same seed, same settings: same answer." onChange={(v) => setSampling('seed', v)} />
            </div>
          </fieldset>
        </div>
        <div className={`answers${hasAdapter && compare ? ' two' : ''}`}>
          {(!hasAdapter || compare) && <AnswerBox title="Base model" answer={base} testId="answer-base" />}
          {hasAdapter && <AnswerBox title="Fine-tuned" answer={adapter} testId="answer-adapter" />}
        </div>
      </div>
    </Panel>
  );
}

function AnswerBox({ title, answer, testId }: { title: string; answer: Answer; testId: string }) {
  const id = useId();
  const state = answer.status === 'waiting' ? 'waiting for the GPU…' : answer.status === 'streaming' ? `${answer.tokens} tokens…` : answer.status === 'done' ? `${answer.tokens} tokens${answer.seconds !== null ? ` in ${answer.seconds.toFixed(1)} s` : ''}` : '';
  return (
    <section className="answer" aria-labelledby={id} data-testid={testId}>
      <h3 id={id}>
        {title} <span className="muted">{state}</span>
      </h3>
      {answer.error ? (
        <p role="alert" className="error">
          {answer.error}
        </p>
      ) : (
        <pre className="answer-text" aria-live="polite" aria-busy={answer.status === 'streaming' || undefined}>
          {answer.text || (answer.status === 'idle' ? '—' : '')}
        </pre>
      )}
    </section>
  );
}
