// Tables and the results file of `npm run bench`: the training bench's own table, the ONE combined
// table (kernel bench + training bench against the performance targets), and latest.json.
// Plain ESM so the Node runners use it without a TypeScript step (types: trainingReport.d.ts).

/** The performance targets (README "Performance"). */
export const TARGETS = {
  matmulVsTfjs: 1.5,
  matmulOfPeak: 0.6,
  outsideFraction: 0.2,
  memoryRatio: 1.15,
  submitsPerStep: 1,
};

const MIB = 2 ** 20;

export function fmt(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function pct(v, digits = 0) {
  return v === null || v === undefined || Number.isNaN(v) ? '-' : `${(100 * v).toFixed(digits)}%`;
}

export function mib(bytes) {
  return bytes === null || bytes === undefined ? '-' : `${(bytes / MIB).toFixed(1)} MiB`;
}

function seconds(ms) {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** " (met)" / " (short)" against a target; empty when there is nothing to judge. */
export function verdict(value, target, higherIsBetter) {
  if (value === null || value === undefined || Number.isNaN(value)) return '';
  return (higherIsBetter ? value >= target : value <= target) ? ' (met)' : ' (short)';
}

/** What the kernel bench measured, reduced to the figures the targets speak of. */
export function summarizeKernels(k) {
  if (!k || typeof k !== 'object') return null;
  const rows = Array.isArray(k.matmul) ? k.matmul : [];
  const vs = rows.map((r) => r.vsTfjs).filter((v) => typeof v === 'number');
  const of = rows.map((r) => r.ofPeak).filter((v) => typeof v === 'number');
  const gf = rows.map((r) => r.gflops).filter((v) => typeof v === 'number');
  return {
    peakGflops: typeof k.peakGflops === 'number' ? k.peakGflops : null,
    shapes: rows.length,
    vsTfjsMin: vs.length ? Math.min(...vs) : null,
    vsTfjsMax: vs.length ? Math.max(...vs) : null,
    ofPeakMin: of.length ? Math.min(...of) : null,
    ofPeakMax: of.length ? Math.max(...of) : null,
    gflopsMax: gf.length ? Math.max(...gf) : null,
    tfjs: typeof k.tfjs === 'string' ? k.tfjs : null,
  };
}

function range(a, b, f) {
  if (a === null || b === null) return '-';
  return a === b ? f(a) : `${f(a)}–${f(b)}`;
}

/** 'fp16' for an unquantized base (and older results without the field), else 'int8' / 'int4'. */
function precision(c) {
  return !c.quantization || c.quantization === 'none' ? 'fp16' : c.quantization;
}

function caseTitle(c) {
  if (c.error) return c.quantize && c.quantize !== 'none' ? `${c.model} (${c.quantize} base)` : c.model;
  const q = precision(c) === 'fp16' ? '' : ` (${precision(c)} base)`;
  return `${modelTitle(c)}${q}`;
}

function modelTitle(c) {
  return { 'stories260K': 'stories260K', 'smollm2-135m-shape': 'SmolLM2-135M shape', 'qwen2.5-0.5b-shape': 'Qwen2.5-0.5B shape', 'qwen3-0.6b-shape': 'Qwen3-0.6B shape', 'gemma3-270m-shape': 'Gemma-3-270M shape' }[c.model] ?? c.model;
}

function layersCell(c) {
  if (c.error) return 'failed';
  const cut = c.layers < c.fullLayers ? (c.adapter?.isSoftware ? ' (software adapter)' : ' (cut)') : '';
  return `${c.layers} of ${c.fullLayers}${cut}`;
}

function stepsCell(c) {
  if (c.error) return '-';
  return `${c.stepsMeasured} after ${c.warmup} warm-up${c.reduced ? ' (cut to fit the time budget)' : ''}`;
}

function count(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return Number.isInteger(v) ? v.toLocaleString('en-US') : fmt(v, 1);
}

/** "passes / dispatches / submits" of a commands record (older results have none). */
function commandsCell(k) {
  return k ? `${count(k.passes)} / ${count(k.dispatches)} / ${count(k.submits)}` : '-';
}

function writesCell(k) {
  return k ? `${count(k.writes)} (${fmt(k.writeBytes / 1024, 0)} KiB) / ${count(k.buffers)}` : '-';
}

function decodeCell(d) {
  if (!d) return 'not measured';
  return `${fmt(d.tokensPerSecond, d.tokensPerSecond < 100 ? 1 : 0)} (steady ${fmt(1000 / d.steadyMsPerToken, 1)}; prefill ${seconds(d.prefillMs)} for ${d.promptTokens})`;
}

function share(ms, total) {
  return `${seconds(ms)} (${pct(ms / total)})`;
}

/** Rows of [metric, target, kernels, ...one cell per case]. */
function rows(kernels, cases, torchNote) {
  const ks = summarizeKernels(kernels);
  const ok = (c, f) => (c.error ? '-' : f(c));
  const per = (f) => cases.map((c) => ok(c, f));
  const out = [];
  out.push(['layers measured', '', '', ...cases.map(layersCell)]);
  out.push(['base weights (precision, analytic bytes)', '', '', ...per((c) => `${precision(c)} (${mib(c.memory.weightsBytes)})`)]);
  out.push(['steps measured', '5 after 2 warm-up', '', ...per(stepsCell)]);
  const ran = cases.filter((c) => !c.error);
  const c0 = ran[0];
  // one batch for every column goes in the row's name; otherwise each column names its own
  const oneBatch = ran.every((c) => c.batchSize === c0.batchSize && c.seqLen === c0.seqLen);
  const what = c0 ? ` (${oneBatch ? `B=${c0.batchSize} x T=${c0.seqLen}, ` : ''}LoRA r=${c0.rank} all linear)` : '';
  out.push([`tokens/s${what}`, '', '', ...per((c) => `${fmt(c.tokensPerSecond, c.tokensPerSecond < 100 ? 1 : 0)}${oneBatch ? '' : ` (B=${c.batchSize} x T=${c.seqLen})`}`)]);
  out.push([
    'PyTorch CPU tokens/s (ours ÷ torch)',
    '',
    '',
    ...per((c) => (c.torch ? `${fmt(c.torch.tokensPerSecond, 0)} (${fmt(c.tokensPerSecond / c.torch.tokensPerSecond, 3)}x)` : torchNote ? 'n/a' : '-')),
  ]);
  out.push(['time per step', '', '', ...per((c) => seconds(c.msPerStep))]);
  out.push(['  matmul (base + LoRA + LM head)', '', '', ...per((c) => share(c.split.matmulMs, c.msPerStep))]);
  out.push(['  attention', '', '', ...per((c) => share(c.split.attentionMs, c.msPerStep))]);
  out.push(['  other ops', '', '', ...per((c) => share(c.split.otherMs, c.msPerStep))]);
  out.push(['  overhead (outside every pass)', '', '', ...per((c) => share(c.split.overheadMs, c.msPerStep))]);
  out.push([
    'passes / dispatches / submits per step (as in the studio)',
    `≤ ${TARGETS.submitsPerStep} submit`,
    '',
    ...per((c) => `${commandsCell(c.commandsPerStep)}${verdict(c.commandsPerStep?.submits, TARGETS.submitsPerStep, false)}`),
  ]);
  out.push(['  buffer writes (bytes) / buffers created per step', '', '', ...per((c) => writesCell(c.commandsPerStep))]);
  out.push(['  step time as in the studio (last warm-up step, no pass timer)', '', '', ...per((c) => (c.untimedStepMs ? seconds(c.untimedStepMs) : '-'))]);
  out.push(['  passes per step under the pass timer (one per dispatch)', '', '', ...per((c) => count(c.passesPerStep))]);
  const d0 = cases.find((c) => !c.error && c.decode)?.decode;
  out.push([`decode tokens/s${d0 ? ` (${d0.promptTokens}-token prompt, ${d0.newTokens} new, greedy, ${d0.weights})` : ''}`, '', '', ...per((c) => decodeCell(c.decode))]);
  out.push(['  passes / dispatches / submits per decoded token', '', '', ...per((c) => commandsCell(c.decode?.commandsPerToken))]);
  out.push(['  buffer writes (bytes) / buffers created per token', '', '', ...per((c) => writesCell(c.decode?.commandsPerToken))]);
  out.push(['time outside matmul + attention', `≤ ${pct(TARGETS.outsideFraction)}`, '', ...per((c) => pct(c.outsideFraction) + verdict(c.outsideFraction, TARGETS.outsideFraction, false))]);
  out.push([
    'matmul GFLOP/s inside the step (of FMA peak)',
    `≥ ${pct(TARGETS.matmulOfPeak)} of peak`,
    '',
    ...per((c) => `${fmt(c.matmulGflops)} (${pct(c.matmulOfPeak, 1)})${verdict(c.matmulOfPeak, TARGETS.matmulOfPeak, true)}`),
  ]);
  out.push(['step FLOPs / (step time × FMA peak)', '', '', ...per((c) => pct(c.ofPeak, 1))]);
  out.push(['FMA-only peak GFLOP/s', '', ks?.peakGflops ? fmt(ks.peakGflops) : '-', ...per((c) => `${fmt(c.peakGflops)}${c.peakSource === 'measured here' ? ' (measured here)' : ''}`)]);
  out.push([
    `matmul y = x·Wᵀ vs tfjs (kernel bench${ks ? `, ${ks.shapes} shapes` : ''})`,
    `≥ ${TARGETS.matmulVsTfjs}x`,
    ks ? `${range(ks.vsTfjsMin, ks.vsTfjsMax, (v) => `${fmt(v)}x`)}${verdict(ks.vsTfjsMin, TARGETS.matmulVsTfjs, true)}` : 'not run',
    ...cases.map(() => ''),
  ]);
  out.push([
    'matmul y = x·Wᵀ of FMA peak (kernel bench)',
    `≥ ${pct(TARGETS.matmulOfPeak)}`,
    ks ? `${range(ks.ofPeakMin, ks.ofPeakMax, (v) => pct(v))}${verdict(ks.ofPeakMin, TARGETS.matmulOfPeak, true)}` : 'not run',
    ...cases.map(() => ''),
  ]);
  out.push(['peak GPU bytes (allocation tracker)', '', '', ...per((c) => mib(c.peakBytes))]);
  out.push(['analytic minimum (W as loaded + f32 LoRA + AdamW + kept activations)', '', '', ...per((c) => mib(c.memory.analyticBytes))]);
  out.push(['peak ÷ analytic', `≤ ${TARGETS.memoryRatio}`, '', ...per((c) => `${fmt(c.memoryRatio)}${verdict(c.memoryRatio, TARGETS.memoryRatio, false)}`)]);
  return out;
}

/** A markdown table (aligned for the terminal too). */
export function markdownTable(header, body) {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => String(r[i] ?? '').length)));
  const line = (r) => `| ${r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

function adapterLine(adapter, userAgent) {
  if (!adapter) return 'adapter: unknown (no case ran)';
  const browser = /Chrome\/(\S+)/.exec(userAgent ?? '')?.[1];
  return `adapter: ${adapter.name}${adapter.isSoftware ? ' (software)' : ''}${browser ? `, Chromium ${browser}` : ''}; timestamps ${adapter.features?.timestampQuery ? 'yes' : 'no'}`;
}

function notes(training) {
  const n = [];
  for (const c of training.cases) {
    if (c.error) n.push(`${caseTitle(c)}: FAILED: ${c.error.split('\n')[0]}`);
    else {
      if (c.timing !== 'timestamp') n.push(`${caseTitle(c)}: categories timed by separate runs with only one category's passes (no usable timestamps)`);
      if (c.reduced) n.push(`${caseTitle(c)}: ${c.reduced}`);
    }
  }
  if (training.torchNote) n.push(training.torchNote);
  return n;
}

/** The combined table of `npm run bench`. */
export function formatCombinedTable({ kernels, kernelsNote, training, commit, date }) {
  const cases = training?.cases ?? [];
  const header = ['metric', 'target', 'kernels', ...cases.map(caseTitle)];
  const lines = [];
  lines.push(`Whetstone benchmark ${date ?? ''}${commit ? ` @ ${commit.slice(0, 10)}` : ''}`);
  lines.push(adapterLine(training?.adapter ?? kernels?.adapter ?? null, training?.userAgent ?? kernels?.userAgent));
  lines.push('');
  lines.push(markdownTable(header, rows(kernels, cases, training?.torchNote)));
  const n = [...(kernelsNote ? [kernelsNote] : []), ...(training ? notes(training) : ['training bench did not run'])];
  if (n.length) lines.push('', ...n.map((x) => `- ${x}`));
  return lines.join('\n');
}

/** The training bench's own table (no kernel column), plus its slowest passes. */
export function formatTrainingTable(training) {
  const cases = training.cases;
  const body = rows(null, cases, training.torchNote)
    .filter((r) => !r[0].includes('kernel bench'))
    .map((r) => [r[0], r[1], ...r.slice(3)]);
  const lines = [adapterLine(training.adapter, training.userAgent), '', markdownTable(['metric', 'target', ...cases.map(caseTitle)], body)];
  for (const c of cases) {
    if (c.error || !c.topPasses?.length) continue;
    lines.push('', `${caseTitle(c)}: slowest passes per step (${fmt(c.passesPerStep, 0)} passes)`);
    for (const p of c.topPasses.slice(0, 8)) lines.push(`  ${seconds(p.ms).padStart(9)}  x${fmt(p.count, 0).padEnd(4)} ${p.label}`);
  }
  for (const c of cases) {
    if (c.error || !c.liveByGroup?.length) continue;
    lines.push('', `${caseTitle(c)}: GPU memory at the peak (${mib(c.peakBytes)}; analytic minimum ${mib(c.memory.analyticBytes)})`);
    for (const g of c.liveByGroup) lines.push(`  ${mib(g.bytes).padStart(12)}  ${g.group}`);
  }
  const n = notes(training);
  if (n.length) lines.push('', ...n.map((x) => `- ${x}`));
  return lines.join('\n');
}

/** bench/results/latest.json. */
export function buildLatest({ kernels, kernelsNote, training, commit, date }) {
  return {
    adapter: training?.adapter ?? kernels?.adapter ?? null,
    date,
    commit,
    userAgent: training?.userAgent ?? kernels?.userAgent ?? null,
    kernels: kernels ?? null,
    kernelsNote: kernelsNote ?? null,
    targets: TARGETS,
    training: (training?.cases ?? []).map((c) =>
      c.error
        ? { model: c.model, error: c.error }
        : {
            model: c.model,
            quantization: c.quantization ?? 'none',
            name: c.name,
            layers: c.layers,
            fullLayers: c.fullLayers,
            batchSize: c.batchSize,
            seqLen: c.seqLen,
            tokensPerStep: c.tokensPerStep,
            stepsMeasured: c.stepsMeasured,
            warmup: c.warmup,
            reduced: c.reduced,
            tokensPerSecond: c.tokensPerSecond,
            torchTokensPerSecond: c.torch?.tokensPerSecond ?? null,
            vsTorch: c.torch ? c.tokensPerSecond / c.torch.tokensPerSecond : null,
            msPerStep: c.msPerStep,
            split: c.split,
            timing: c.timing,
            overheadFraction: c.overheadFraction,
            outsideFraction: c.outsideFraction,
            ofPeak: c.ofPeak,
            matmulOfPeak: c.matmulOfPeak,
            peakGflops: c.peakGflops,
            peakBytes: c.peakBytes,
            analyticBytes: c.memory.analyticBytes,
            memoryRatio: c.memoryRatio,
            estimateBytes: c.memory.estimateBytes,
            commandsPerStep: c.commandsPerStep ?? null,
            untimedStepMs: c.untimedStepMs ?? null,
            decode: c.decode ?? null,
          },
    ),
    torchNote: training?.torchNote ?? null,
    trainingDetails: training ?? null,
  };
}
