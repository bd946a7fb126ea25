import { describe, expect, it } from 'vitest';
import {
  contentLimits,
  DEFAULT_MAX_DATASET_BYTES,
  DEFAULT_MAX_DATASET_FILES,
  describeLinks,
  escapingLinks,
  limitProblem,
  linksProblem,
  mismatchProblem,
  parseCatFileBatch,
  parseLsTree,
} from '../../src/core/dataset-contents.js';
import { SyncerError } from '../../src/errors.js';

const OID = 'a'.repeat(40);
const OID2 = 'b'.repeat(40);

describe('parseLsTree', () => {
  it('reads entries with and without sizes, paths with spaces and newlines', () => {
    const out = `100644 blob ${OID}     12\tw/a b.csv\u0000120000 blob ${OID2}      9\tw/l\nx\u0000160000 commit ${OID}       -\tw/sub\u0000`;
    expect(parseLsTree(out)).toEqual([
      { mode: '100644', type: 'blob', oid: OID, size: 12, path: 'w/a b.csv' },
      { mode: '120000', type: 'blob', oid: OID2, size: 9, path: 'w/l\nx' },
      { mode: '160000', type: 'commit', oid: OID, path: 'w/sub' },
    ]);
    expect(parseLsTree(`100644 blob ${OID}\tw/a\0`)).toEqual([{ mode: '100644', type: 'blob', oid: OID, path: 'w/a' }]);
  });
});

describe('escapingLinks', () => {
  const esc = (links: Record<string, string>, dataset = 'w') => escapingLinks(new Map(Object.entries(links)), dataset).map((l) => l.path);
  it('allows links that stay in the dataset, dangling ones included', () => {
    expect(esc({ 'w/a': 'b.csv', 'w/d/e': '../b.csv', 'w/d/f': './g/../h', 'w/x': 'missing', 'w/d/self': '.' })).toEqual([]);
  });
  it('refuses absolute targets and .. out of the dataset, even through the checkout root', () => {
    expect(esc({ 'w/key': '/root/.ssh/id_ed25519', 'w/up': '../../etc/passwd', 'w/git': '../.git/config', 'w/round': '../w/a', 'w/ok': 'a' })).toEqual([
      'w/git',
      'w/key',
      'w/round',
      'w/up',
    ]);
  });
  it('follows links in the tree: a lexically inside target can resolve outside', () => {
    expect(esc({ 'w/d/e/L': '../..', 'w/M': 'd/e/L/..' })).toEqual(['w/M']);
    expect(esc({ 'w/a': 'b', 'w/b': '/etc' })).toEqual(['w/a', 'w/b']);
    expect(esc({ 'w/a': 'b', 'w/b': 'a' })).toEqual(['w/a', 'w/b']); // a loop cannot be shown to stay inside
  });
  it('works for a nested dataset path', () => {
    expect(esc({ 'data/w/a': '../w/b', 'data/w/c': '../x' }, 'data/w')).toEqual(['data/w/a', 'data/w/c']);
  });
  it('describes a few, then a count, escaped', () => {
    const links = ['a', 'b', 'c', 'd', 'e'].map((p) => ({ path: `w/${p}`, target: '/x\u001b' }));
    expect(describeLinks(links)).toBe('w/a -> /x\\x1b, w/b -> /x\\x1b, w/c -> /x\\x1b and 2 more');
    expect(linksProblem(links, 'w/2026-01-01 from lab-a')!.message).toMatch(/^refusing w\/2026-01-01 from lab-a: 5 symbolic links lead out of the dataset/);
    expect(linksProblem([], 'x')).toBeUndefined();
  });
});

describe('limits and sizes', () => {
  it('takes the limits from the config (file or environment, validated there), with defaults', async () => {
    expect(contentLimits({})).toEqual({ maxBytes: DEFAULT_MAX_DATASET_BYTES, maxFiles: DEFAULT_MAX_DATASET_FILES });
    expect(contentLimits({ maxDatasetBytes: 100, maxDatasetFiles: 3 })).toEqual({ maxBytes: 100, maxFiles: 3 });
    const { resolveConfig } = await import('../../src/config/resolve.js');
    const resolve = (env: Record<string, string>) => resolveConfig({ file: {}, fileDir: '/x', env, flags: {}, cwd: '/x' });
    expect(resolve({ SYNCER_MAX_DATASET_FILES: '3' }).maxDatasetFiles).toBe(3);
    for (const bad of ['0', '-1', 'lots', '1.5']) {
      let err: unknown;
      try {
        resolve({ SYNCER_MAX_DATASET_FILES: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SyncerError);
      expect((err as SyncerError).exitCode).toBe(2);
    }
  });
  it('names the limit and how to raise it', () => {
    const limits = { maxBytes: 1000, maxFiles: 10 };
    expect(limitProblem({ files: 10, bytes: 1000 }, limits, 'x')).toBeUndefined();
    expect(limitProblem({ files: 11 }, limits, 'x')).toMatchObject({
      message: expect.stringMatching(/11 files, over this machine's limit of 10 files \(SYNCER_MAX_DATASET_FILES\)/),
      hint: expect.stringMatching(/syncer config set maxDatasetFiles 11 \(or SYNCER_MAX_DATASET_FILES=11/),
    });
    expect(limitProblem({ files: 1, bytes: 5000 }, limits, 'x')!.message).toMatch(/5000 bytes \(4\.9 KiB\), over this machine's limit of 1000 bytes/);
  });
  it('a tree that disagrees with the advertisement', () => {
    expect(mismatchProblem({ files: 1 }, { files: 1, bytes: 4 }, 'x')).toBeUndefined();
    expect(mismatchProblem({ files: 4096 }, { files: 1, bytes: 4 }, 'x')!.message).toBe(
      'refusing x: its tree has 4096 files (advertised 1); the advertisement does not describe the data',
    );
    expect(mismatchProblem({ files: 1, bytes: 9 }, { files: 1, bytes: 4 }, 'x')!.message).toMatch(/9 bytes \(advertised 4\)/);
  });
});

describe('parseCatFileBatch', () => {
  it('frames by byte size (multi-byte text, newlines inside)', () => {
    const out = `${OID} blob 5\nüx\ny\n${OID2} blob 3\n/ab\n`;
    expect(parseCatFileBatch(out, [OID, OID2])).toEqual(
      new Map([
        [OID, 'üx\ny'],
        [OID2, '/ab'],
      ]),
    );
  });
  it('gives up (caller reads one by one) on replacement characters or a surprise', () => {
    expect(parseCatFileBatch(`${OID} blob 1\n\uFFFD\n`, [OID])).toBeUndefined();
    expect(parseCatFileBatch(`${OID2} blob 1\nx\n`, [OID])).toBeUndefined();
  });
});
