// Shader compilation inside error scopes: a WGSL compile error or a pipeline validation error
// fails loudly and names the .wgsl file it came from (and the line), instead of surfacing later as
// an uncaptured error and garbage results.
//
// Shared WGSL lives in fragment files (src/gpu/shaders/fragments/). A shader names the fragments it
// uses, in order; the loader puts each one once, in that order, before the shader's own code (no
// string replacement, no templates). Module-scope WGSL declarations may come in any order, so a
// fragment can use a binding or function the shader itself declares. Compiler messages are mapped
// back from the joined source to the file and line they came from.

/** A fragment: a .wgsl file of shared declarations, named relative to src/gpu/shaders/. */
export interface WgslFragment {
  file: string;
  code: string;
}

export interface WgslSource {
  /** file name under src/gpu/shaders/, used in every error message */
  file: string;
  code: string;
  /** fragments put before `code`, each once, in this order */
  fragments?: readonly WgslFragment[];
}

export class ShaderError extends Error {
  constructor(
    readonly file: string,
    readonly details: string,
  ) {
    super(`WGSL error in src/gpu/shaders/${file}: ${details}`);
    this.name = 'ShaderError';
  }
}

export interface PipelineSpec {
  shader: WgslSource;
  entryPoint?: string;
  /** values for the shader's `override` constants (workgroup sizes, tile sizes...) */
  constants?: Record<string, number>;
}

/** Where each file's lines start in a joined source (1-based), in order. */
interface Part {
  file: string;
  firstLine: number;
}

export interface JoinedWgsl {
  code: string;
  parts: Part[];
}

function lineCount(code: string): number {
  let n = 1;
  for (let i = 0; i < code.length; i++) if (code.charCodeAt(i) === 10) n++;
  return n;
}

/** The fragments of `src` (each once, in order), then its own code; throws on two different fragments of one name. */
export function joinWgsl(src: WgslSource): JoinedWgsl {
  const seen = new Map<string, string>();
  const pieces: WgslFragment[] = [];
  for (const f of src.fragments ?? []) {
    const before = seen.get(f.file);
    if (before === undefined) {
      seen.set(f.file, f.code);
      pieces.push(f);
    } else if (before !== f.code) {
      throw new ShaderError(src.file, `two different fragments are named ${f.file}`);
    }
  }
  pieces.push({ file: src.file, code: src.code });
  const parts: Part[] = [];
  let line = 1;
  for (const p of pieces) {
    parts.push({ file: p.file, firstLine: line });
    // each piece is followed by one newline, so the next starts on a fresh line
    line += lineCount(p.code);
  }
  return { code: pieces.map((p) => p.code).join('\n'), parts };
}

/** `file:line` (relative to src/gpu/shaders/) of a 1-based line of the joined source. */
export function sourceLine(joined: JoinedWgsl, line: number): { file: string; line: number } {
  let part = joined.parts[0];
  for (const p of joined.parts) if (p.firstLine <= line) part = p;
  return { file: part.file, line: line - part.firstLine + 1 };
}

function describeMessage(joined: JoinedWgsl, m: GPUCompilationMessage): string {
  if (m.lineNum <= 0) return m.message;
  const at = sourceLine(joined, m.lineNum);
  return `src/gpu/shaders/${at.file}:${at.line}:${m.linePos}: ${m.message}`;
}

/** The pipeline cache key: the shader and its fragments by file, entry point, override values. */
export function specKey(spec: PipelineSpec): string {
  const consts = spec.constants
    ? Object.keys(spec.constants)
        .sort()
        .map((k) => `${k}=${spec.constants![k]}`)
        .join(',')
    : '';
  const files = [...(spec.shader.fragments ?? []).map((f) => f.file), spec.shader.file].join('+');
  return `${files}#${spec.entryPoint ?? 'main'}#${consts}`;
}

export async function compileComputePipeline(device: GPUDevice, spec: PipelineSpec): Promise<GPUComputePipeline> {
  const { file } = spec.shader;
  const joined = joinWgsl(spec.shader);
  const entryPoint = spec.entryPoint ?? 'main';
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: joined.code, label: file });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    await device.popErrorScope();
    throw new ShaderError(file, errors.map((m) => describeMessage(joined, m)).join('; '));
  }
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({
      label: `${file}:${entryPoint}`,
      layout: 'auto',
      compute: { module, entryPoint, constants: spec.constants },
    });
  } catch (e) {
    await device.popErrorScope();
    throw new ShaderError(file, `pipeline '${entryPoint}' could not be created: ${(e as Error).message}`);
  }
  const err = await device.popErrorScope();
  if (err) throw new ShaderError(file, `validation failed for '${entryPoint}': ${err.message}`);
  return pipeline;
}

/** Pipelines compiled once per device and spec (compiling costs ~150 ms on a software adapter). */
export class PipelineCache {
  private cache = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private device: GPUDevice) {}

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const key = specKey(spec);
    let p = this.cache.get(key);
    if (!p) {
      p = compileComputePipeline(this.device, spec);
      // a failed compile must not poison the cache for a later fixed shader
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }
}
