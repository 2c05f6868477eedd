import { describe, expect, it } from 'vitest';
import { fileNameStem, sanitizeFileName } from './fileName';

describe('sanitizeFileName', () => {
  it('keeps ordinary names as they are', () => {
    expect(sanitizeFileName('adapter_model.safetensors')).toBe('adapter_model.safetensors');
    expect(sanitizeFileName('stories260K-lora.gguf')).toBe('stories260K-lora.gguf');
    expect(sanitizeFileName('Modèle été.json')).toBe('Modèle été.json');
  });
  it('replaces path separators so a name cannot choose its folder', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('_.._etc_passwd');
    expect(sanitizeFileName('..\\..\\Windows\\system.ini')).toBe('_.._Windows_system.ini');
    expect(sanitizeFileName('C:\\x.txt')).toBe('C__x.txt');
    expect(sanitizeFileName('/abs/path.bin')).toBe('_abs_path.bin');
    expect(sanitizeFileName('a/b')).not.toMatch(/[/\\]/);
  });
  it('removes control and bidi characters', () => {
    expect(sanitizeFileName('bad\u0000name\n.txt')).toBe('badname.txt');
    expect(sanitizeFileName('evil\u202Efdp.exe')).toBe('evilfdp.exe');
    expect(sanitizeFileName('a\u0085b\u007f.c')).toBe('ab.c');
    expect(sanitizeFileName('tab\there.txt')).toBe('tabhere.txt');
    for (const ch of sanitizeFileName('x\u0001\u001f\u200b\u2066y')) expect(ch.codePointAt(0)!).toBeGreaterThan(31);
  });
  it('replaces characters Windows forbids and prefixes reserved device names', () => {
    expect(sanitizeFileName('a<b>c:d"e|f?g*h.txt')).toBe('a_b_c_d_e_f_g_h.txt');
    expect(sanitizeFileName('CON')).toBe('_CON');
    expect(sanitizeFileName('nul.txt')).toBe('_nul.txt');
    expect(sanitizeFileName('console.txt')).toBe('console.txt');
  });
  it('drops leading dots and trailing dots or spaces', () => {
    expect(sanitizeFileName('.bashrc')).toBe('bashrc');
    expect(sanitizeFileName('name. . ')).toBe('name');
    expect(sanitizeFileName('  spaced   out  .txt')).toBe('spaced out .txt');
  });
  it('falls back when nothing usable is left', () => {
    expect(sanitizeFileName('')).toBe('download');
    expect(sanitizeFileName('..')).toBe('download');
    expect(sanitizeFileName('///', 'adapter.zip')).toBe('adapter.zip');
    expect(sanitizeFileName('\u0000', '../x')).toBe('_x');
    expect(sanitizeFileName('', '')).toBe('download');
  });
  it('caps the length and keeps the extension', () => {
    const long = 'a'.repeat(300) + '.safetensors';
    const out = sanitizeFileName(long);
    expect(out.length).toBe(120);
    expect(out.endsWith('.safetensors')).toBe(true);
  });
});

describe('fileNameStem', () => {
  it('turns spaces into dashes', () => {
    expect(fileNameStem('my first run', 'run')).toBe('my-first-run');
    expect(fileNameStem('  ', 'run')).toBe('run');
  });
});
