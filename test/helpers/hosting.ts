/**
 * What the hosting tests check after a retrieve, as a user would: exit 0, HEAD is the advertised
 * commit, the dataset's files arrived with the operator's content; and, for a partial fetch, that
 * other datasets' blobs never entered the clone's object store; for a fallback, that syncer said
 * so once on stderr with the size downloaded and the server setting that would avoid it.
 */
import { expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { git, type Operator, type RunResult, type World } from './world.js';

export const KiB = 1024;

/** Objects actually present in a repository's object store (no lazy fetch). */
export function localObjects(repo: string): Map<string, { type: string; size: number }> {
  const out = git(repo, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(objectsize)');
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, type, size] = l.split(' ');
        return [id!, { type: type!, size: Number(size) }];
      }),
  );
}

/** Files under dir (relative paths), .git excluded. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      if (e === '.git') continue;
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

export interface Retrieved {
  target: string;
  commit: string;
  dataPath: string;
}

/** The registry's entry for OP's HUB (today's or the only date), parsed. */
export function advertised(world: World, op: Operator, hub: string): { commit: string; remote: string; date: string } {
  const entries = Object.entries(world.etcdGet(`datasets/${hub}/`)).filter(([k]) => k.endsWith(`/${op.name}`));
  expect(entries.length, `an advertisement of ${hub} by ${op.name} in etcd`).toBeGreaterThan(0);
  const [key, value] = entries.sort(([a], [b]) => a.localeCompare(b)).at(-1)!;
  const ad = JSON.parse(value) as { commit: string; remote: string };
  return { ...ad, date: key.split('/').at(-2)! };
}

/**
 * A retrieve that must have worked: exit 0, HEAD == the advertised commit (registry and JSON
 * output agree), every file of the dataset present with the operator's bytes and nothing else of
 * the repository checked out.
 */
export function expectRetrieved(r: RunResult, world: World, op: Operator, hub: string): Retrieved {
  expect(r.code, `retrieve exit code; stderr:\n${r.stderr}`).toBe(0);
  const out = JSON.parse(r.stdout) as Retrieved;
  const ad = advertised(world, op, hub);
  expect(out.commit).toBe(ad.commit);
  expect(git(out.target, 'rev-parse', 'HEAD'), 'HEAD is the advertised commit').toBe(ad.commit);
  const expected = git(op.repo, 'ls-tree', '-r', '--name-only', ad.commit, '--', hub).split('\n').filter(Boolean).sort();
  expect(expected.length).toBeGreaterThan(0);
  expect(filesUnder(join(out.target, hub)).map((f) => `${hub}/${f}`)).toEqual(expected);
  for (const f of expected) {
    const want = execGitBinary(op.repo, `${ad.commit}:${f}`);
    expect(readFileSync(join(out.target, f)).equals(want), `${f} has the operator's content`).toBe(true);
  }
  return out;
}

/** A blob's bytes (git() trims and decodes as text). */
function execGitBinary(repo: string, spec: string): Buffer {
  return execFileSync('git', ['-C', repo, 'cat-file', 'blob', spec], { maxBuffer: 1 << 30 });
}

/** Only HUB's blobs arrived: the blobs of every other dataset of the commit are absent locally. */
export function expectPartial(target: string, op: Operator, commit: string, hub: string, otherHubs: string[]): void {
  const objects = localObjects(target);
  for (const other of otherHubs) {
    for (const f of git(op.repo, 'ls-tree', '-r', '--name-only', commit, '--', other).split('\n').filter(Boolean)) {
      expect(objects.has(git(op.repo, 'rev-parse', `${commit}:${f}`)), `${f} (another dataset) is not in the clone`).toBe(false);
    }
  }
  for (const f of git(op.repo, 'ls-tree', '-r', '--name-only', commit, '--', hub).split('\n').filter(Boolean)) {
    expect(objects.has(git(op.repo, 'rev-parse', `${commit}:${f}`)), `${f} is in the clone`).toBe(true);
  }
}

/** No word of a fallback: the partial fetch simply worked. */
export function expectNoFallbackWarning(stderr: string): void {
  expect(stderr).not.toMatch(/partial/i);
  expect(stderr).not.toMatch(/downloaded/i);
}

/**
 * The fallback was announced once: a line that says the remote could not serve a partial fetch,
 * the size downloaded, and the server setting that would avoid it (`setting`).
 */
export function expectFallbackWarning(stderr: string, setting: RegExp): void {
  expect(stderr).toMatch(/partial/i);
  expect(stderr).toMatch(/downloaded/i);
  expect(stderr).toMatch(/downloaded[^\n]*?\d+(\.\d+)?\s*(bytes|[KMG]i?B|kB)\b|\d+(\.\d+)?\s*(bytes|[KMG]i?B|kB)\b[^\n]*downloaded/i);
  expect(stderr).toMatch(setting);
  expect(stderr.match(/downloaded/gi)?.length, `said once:\n${stderr}`).toBe(1);
}

/** A git failure: exit 4 and git's own reason plus a fix in what the user sees. */
export function expectGitReason(r: RunResult, reason: RegExp, fix: RegExp): void {
  const all = `${r.stderr}\n${r.stdout}`;
  expect(r.code, all).toBe(4);
  expect(all).toMatch(reason);
  expect(all).toMatch(fix);
}
