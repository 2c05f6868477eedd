// Types of the wasm-bindgen glue of wgsl-wasm-transpiler-bundler (the package types only its
// bundler entry, which Node cannot load: it imports the .wasm file as a module). See nagaWgsl.ts.
declare module 'wgsl-wasm-transpiler-bundler/wgsl_wasm_transpiler_bg.js' {
  export function compileShader(source: string, format: string): string;
  export function __wbg_set_wasm(exports: WebAssembly.Exports): void;
}
