// The dev server of the Playwright suite: vite.config.ts without hot reloading. An edit saved
// while the suite runs (another terminal, an editor, a formatter) would otherwise make the dev
// server reload every open test page, and the test on it would fail for no fault of the code
// under test (a loaded model and a running job gone). Pages opened afterwards get the new code.
import { mergeConfig } from 'vite';
import base from '../vite.config';

export default mergeConfig(base, { server: { hmr: false } });
