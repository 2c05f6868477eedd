// Debian's Chromium with the flags from ../shared/webgpu-on-cpu.md: WebGPU on SwiftShader without
// a GPU, and no background traffic. Shared by Playwright's config and the command-line tools.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

export const CHROMIUM_PATH = process.env.CHROME_PATH || '/usr/bin/chromium';
