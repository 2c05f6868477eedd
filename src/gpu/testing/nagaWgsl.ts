// A second WGSL compiler for tests: naga (wgpu's shader translator), compiled to WebAssembly in the
// npm package wgsl-wasm-transpiler-bundler. It parses and validates a module (types, the `enable`
// extensions, bindings, entry points), which is how the native-f16 matmul modules are checked on
// this machine, whose adapter lacks 'shader-f16' and so cannot compile them (Dawn refuses `enable
// f16;` there). Limits of this naga build: no `enable subgroups;`, no uniformity analysis, and its
// WGSL writer cannot resolve override constants, so a module that declares overrides and passes
// validation ends with a "Failed to generate WGSL" error about pipeline constants (which `ok`
// counts as passed, since validation came before it); parse and validation errors say "Failed to
// parse WGSL" / "Validation failed".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as naga from 'wgsl-wasm-transpiler-bundler/wgsl_wasm_transpiler_bg.js';

let ready: Promise<void> | null = null;

function load(): Promise<void> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('wgsl-wasm-transpiler-bundler/wgsl_wasm_transpiler_bg.wasm');
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), { './wgsl_wasm_transpiler_bg.js': naga });
    naga.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  })();
  return ready;
}

export interface NagaVerdict {
  /** parsed and validated */
  ok: boolean;
  /** naga's message ('' when it also wrote the module back out) */
  message: string;
}

/** Parses and validates `code` with naga. */
export async function nagaValidate(code: string): Promise<NagaVerdict> {
  await load();
  try {
    naga.compileShader(code, 'wgsl');
    return { ok: true, message: '' };
  } catch (e) {
    const message = String(e);
    // validation passed; only writing overrides back out is unsupported by this build
    const ok = /^Failed to generate WGSL: Pipeline constants are not yet supported/.test(message);
    return { ok, message };
  }
}
