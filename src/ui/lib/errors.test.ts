import { describe, expect, it } from 'vitest';
import { engineErrorMessage, errorText } from './errors';

describe('errorText', () => {
  it('reads errors, strings and error-like objects', () => {
    expect(errorText(new Error('boom'))).toBe('boom');
    expect(errorText('plain')).toBe('plain');
    expect(errorText({ message: 'cloned' })).toBe('cloned');
    expect(errorText(42)).toBe('42');
  });
});

describe('engineErrorMessage', () => {
  it('names the missing method of an older worker', () => {
    const e = new TypeError("Cannot read properties of undefined (reading 'apply')");
    const m = engineErrorMessage(e, 'loadModel', 'load the model');
    expect(m).toContain('loadModel()');
    expect(m).toMatch(/^Could not load the model/);
    expect(m).not.toContain('apply');
  });
  it('keeps the engine’s own explanation', () => {
    const m = engineErrorMessage(new Error('config.json is missing. Add it to the folder.'), 'loadModel', 'load the model');
    expect(m).toBe('Could not load the model: config.json is missing. Add it to the folder.');
  });
  it('explains clone failures', () => {
    const m = engineErrorMessage(new DOMException('x could not be cloned.', 'DataCloneError'), 'generate', 'generate');
    expect(m).toContain('could not be passed to the engine');
  });
});
