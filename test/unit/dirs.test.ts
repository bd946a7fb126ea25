import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirs } from '../../src/adapters/dirs.js';
import { fileSystemError } from '../../src/errors.js';

describe('makeDirs', () => {
  it('creates the missing directories and returns the first one, like mkdirSync recursive', () => {
    const root = mkdtempSync(join(tmpdir(), 'syncer-dirs-'));
    try {
      expect(makeDirs(join(root, 'a/b/c'), 0o700)).toBe(join(root, 'a'));
      expect(statSync(join(root, 'a/b/c')).isDirectory()).toBe(true);
      expect(statSync(join(root, 'a/b')).mode & 0o777).toBe(0o700);
      expect(makeDirs(join(root, 'a/b'))).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("fails (never loops) under a file, and under /proc where Node's recursive mkdir never returns", () => {
    const root = mkdtempSync(join(tmpdir(), 'syncer-dirs-'));
    try {
      writeFileSync(join(root, 'f'), '');
      expect(() => makeDirs(join(root, 'f/x'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
      expect(() => makeDirs(join(root, 'f'))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    let err: unknown;
    try {
      makeDirs('/proc/syncer-nope/x');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'mkdir' });
    expect(fileSystemError(err)).toMatchObject({
      kind: 'USAGE',
      message: expect.stringMatching(/cannot mkdir \/proc\/syncer-nope: it cannot be created there/),
    });
  });
});
