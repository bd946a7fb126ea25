/**
 * syncer mirror: an archive of advertised datasets with an initial sync limit, incremental runs,
 * same-day replacements, in-progress runs re-checked (completed, died, timed out), an unreachable
 * operator remote, and idempotent reruns. Real etcd, real git remotes, real sync processes.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { git, World, type Operator, type RunResult } from '../helpers/world.js';

let world: World;
let a: Operator;
let b: Operator;
let archivist: Operator;
let archive: string;
const HUB = 'air';
const DATES = ['2026-09-01', '2026-09-02', '2026-09-03', '2026-09-04', '2026-09-05'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (r: RunResult) => JSON.parse(r.stdout);
const state = () => JSON.parse(git(archive, 'show', 'syncer-mirror:state.json'));
const tags = () => git(archive, 'for-each-ref', '--format=%(refname)', 'refs/tags/').split('\n').filter(Boolean).sort();
const mirror = (args: string[] = [], opts = {}) => archivist.syncer(['mirror', '--to', archive, '--json', ...args], opts);

async function waitFor(check: () => boolean, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b, archivist] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('archivist')]);
  archive = join(world.root, 'archive.git');
  for (const [i, date] of DATES.entries()) {
    a.write({ [`${HUB}/pm.csv`]: `pm\n${i}\n` });
    const r = await a.syncer(['sync', '--hub', HUB], { at: `${date} 12:00:00` });
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(() => world.cleanup());

describe('mirror', () => {
  it("first run: only the newest --initial-sync-limit dates, each as the operator's own tag", async () => {
    const r = await mirror(['--initial-sync-limit', '3']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out.counts).toEqual({ mirrored: 3, 'in-progress': 0, unknown: 0 });
    expect(tags()).toEqual(DATES.slice(2).map((d) => `refs/tags/lab-a/${HUB}/${d}`));
    // The archived tag is the operator's own annotated tag object (signature and advertisement intact).
    const original = git(a.remoteDir, 'rev-parse', `refs/tags/syncer/${HUB}/${DATES[4]}`);
    expect(git(archive, 'rev-parse', `refs/tags/lab-a/${HUB}/${DATES[4]}`)).toBe(original);
    expect(JSON.parse(git(archive, 'tag', '-l', '--format=%(contents)', `lab-a/${HUB}/${DATES[4]}`)).signature).toMatch(/^ed25519:/);
    expect(state().hubs[HUB]).toEqual({ floor: DATES[2] });
  });

  it('a rerun with nothing new changes nothing', async () => {
    const head = git(archive, 'rev-parse', 'syncer-mirror');
    const r = await mirror();
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).changes).toEqual([]);
    expect(git(archive, 'rev-parse', 'syncer-mirror')).toBe(head);
  });

  it('incremental: a new date, a same-day replacement and a second operator on a mirrored date; never below the window', async () => {
    a.write({ [`${HUB}/pm.csv`]: 'pm\nreplaced\n' });
    expect((await a.syncer(['sync', '--hub', HUB], { at: `${DATES[4]} 18:00:00` })).code).toBe(0);
    a.write({ [`${HUB}/pm.csv`]: 'pm\nnew\n' });
    expect((await a.syncer(['sync', '--hub', HUB], { at: '2026-09-06 12:00:00' })).code).toBe(0);
    b.write({ [`${HUB}/pm.csv`]: 'pm\nb\n' });
    expect((await b.syncer(['sync', '--hub', HUB], { at: `${DATES[3]} 12:00:00` })).code).toBe(0);
    b.write({ [`${HUB}/pm.csv`]: 'pm\nold\n' });
    expect((await b.syncer(['sync', '--hub', HUB], { at: `${DATES[0]} 12:00:00` })).code).toBe(0); // below the floor
    const r = await mirror();
    expect(r.code, r.stderr).toBe(0);
    expect(
      json(r)
        .changes.map((c: { key: string; status: string }) => `${c.status} ${c.key}`)
        .sort(),
    ).toEqual([`mirrored ${HUB}/2026-09-04/lab-b`, `mirrored ${HUB}/2026-09-05/lab-a`, `mirrored ${HUB}/2026-09-06/lab-a`]);
    expect(git(archive, 'rev-parse', `refs/tags/lab-a/${HUB}/${DATES[4]}^{commit}`)).toBe(git(a.repo, 'rev-parse', 'HEAD~1'));
    expect(tags()).not.toContain(`refs/tags/lab-b/${HUB}/${DATES[0]}`);
    expect(json(await mirror()).changes).toEqual([]);
  });

  it('a run in progress is recorded, then mirrored once it completes', async () => {
    // The operator's push runs the mirror from inside its pre-receive hook: the sync is in progress then.
    const hook = join(a.remoteDir, 'hooks', 'pre-receive');
    const env = Object.entries({ ...archivist.env, PATH: process.env.PATH })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    writeFileSync(
      hook,
      `#!/bin/sh\ncat >/dev/null\nenv -i ${env} ${process.execPath} ${join(process.cwd(), 'bin/syncer.js')} mirror --to '${archive}' --json > ` +
        `'${join(world.root, 'during.json')}' 2>&1\nexit 0\n`,
    );
    chmodSync(hook, 0o755);
    a.write({ [`${HUB}/pm.csv`]: 'pm\nduring\n' });
    const s = await a.syncer(['sync', '--hub', HUB, '--json'], { at: '2026-09-07 12:00:00' });
    rmSync(hook);
    expect(s.code, s.stderr).toBe(0);
    const key = `${HUB}/2026-09-07/lab-a`;
    expect(state().entries[key]).toMatchObject({ status: 'in-progress' });
    const runId = state().entries[key].runId;
    const r = await mirror();
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).changes).toEqual([{ key, status: 'mirrored', commit: json(s).commit, runId }]);
    expect(state().entries[key]).toMatchObject({ status: 'mirrored', runId, commit: json(s).commit });
  });

  it('a run that dies (its lease expires) becomes unknown', async () => {
    const hook = join(a.remoteDir, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\nsleep 60\n');
    chmodSync(hook, 0o755);
    a.write({ [`${HUB}/pm.csv`]: 'pm\ndies\n' });
    let child: import('node:child_process').ChildProcess | undefined;
    const s = a.syncer(['sync', '--hub', HUB], { at: '2026-09-08 12:00:00', env: { SYNCER_INPROGRESS_TTL: '2' }, onSpawn: (c) => (child = c) });
    const key = `${HUB}/2026-09-08/lab-a`;
    await waitFor(() => Object.keys(world.etcdGet(`inprogress/${key}`)).length === 1, 'the in-progress key');
    const seen = await mirror();
    expect(json(seen).changes).toEqual([expect.objectContaining({ key, status: 'in-progress' })]);
    // Kill the sync (no clean-up: its lease is left to expire), then the hook holding its pipes.
    child!.kill('SIGKILL');
    rmSync(hook);
    try {
      execFileSync('pkill', ['-f', 'sleep 60']);
    } catch {
      /* already gone */
    }
    await s;
    await waitFor(() => Object.keys(world.etcdGet(`inprogress/${key}`)).length === 0, 'the lease to expire');
    const r = await mirror();
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).changes).toEqual([expect.objectContaining({ key, status: 'unknown', reason: 'the sync ended without advertising' })]);
    expect(json(await mirror()).changes).toEqual([]); // no longer checked
  });

  it("a run still in progress past --in-progress-timeout (by the mirror's own clock) becomes unknown", async () => {
    const key = `${HUB}/2026-09-09/lab-b`;
    world.etcdPut(`inprogress/${key}`, JSON.stringify({ runId: 'stuck-run', startedAt: '2026-09-09T12:00:00.000Z' }));
    expect(json(await mirror()).changes).toEqual([{ key, status: 'in-progress', runId: 'stuck-run' }]);
    expect(json(await mirror([], { at: '+60m' })).changes).toEqual([]); // within the 120 minutes
    const late = await mirror([], { at: '+150m' });
    expect(late.code, late.stderr).toBe(0);
    expect(json(late).changes).toEqual([expect.objectContaining({ key, status: 'unknown', reason: 'still in progress after 120 min' })]);
  });

  it('an unreachable operator remote is reported (exit 4) and the others are still mirrored', async () => {
    b.write({ [`${HUB}/pm.csv`]: 'pm\nb10\n' });
    expect((await b.syncer(['sync', '--hub', HUB], { at: '2026-09-10 12:00:00' })).code).toBe(0);
    a.write({ [`${HUB}/pm.csv`]: 'pm\na10\n' });
    expect((await a.syncer(['sync', '--hub', HUB], { at: '2026-09-10 13:00:00' })).code).toBe(0);
    renameSync(a.remoteDir, `${a.remoteDir}.away`);
    try {
      const r = await mirror();
      expect(r.code).toBe(4);
      const changes = json(r)
        .changes.map((c: { key: string; status: string }) => `${c.status} ${c.key}`)
        .sort();
      expect(changes).toEqual([`failed ${HUB}/2026-09-10/lab-a`, `mirrored ${HUB}/2026-09-10/lab-b`]);
      expect(r.stderr).toMatch(/could not be mirrored/);
    } finally {
      renameSync(`${a.remoteDir}.away`, a.remoteDir);
    }
    const again = await mirror();
    expect(again.code, again.stderr).toBe(0);
    expect(json(again).changes).toEqual([expect.objectContaining({ key: `${HUB}/2026-09-10/lab-a`, status: 'mirrored' })]);
  });

  it('a DEST given as a URL is worked on through a local cache and pushed there', async () => {
    const remoteArchive = join(world.root, 'remote-archive.git');
    git(world.root, 'init', '--quiet', '--bare', remoteArchive);
    const url = `file://${remoteArchive}`;
    const r = await archivist.syncer(['mirror', '--to', url, '--hub', HUB, '--operator', 'lab-b', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pushed = git(remoteArchive, 'for-each-ref', '--format=%(refname)').split('\n');
    expect(pushed).toContain('refs/heads/syncer-mirror');
    expect(pushed.filter((x) => x.startsWith('refs/tags/lab-b/')).length).toBe(json(r).counts.mirrored);
    expect(pushed.some((x) => x.startsWith('refs/tags/lab-a/'))).toBe(false);
    const again = await archivist.syncer(['mirror', '--to', url, '--hub', HUB, '--operator', 'lab-b', '--json']);
    expect(json(again).changes).toEqual([]);
  });

  it('restores a lost registry from the archive (reindex --from-mirror), and peers retrieve from the archive', async () => {
    const mirrored = Object.values(state().entries as Record<string, { status: string; hub: string; date: string; operator: string; commit: string }>).filter(
      (e) => e.status === 'mirrored',
    );
    execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', '--prefix', world.namespace], { env: { ...process.env, ETCDCTL_API: '3' } });
    expect(world.etcdGet('')).toEqual({});
    const r = await archivist.syncer(['reindex', '--from-mirror', archive, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).added).toBe(mirrored.length);
    const restored = world.etcdGet('datasets/');
    expect(Object.keys(restored)).toHaveLength(mirrored.length);
    for (const e of mirrored) {
      const ad = JSON.parse(restored[`${world.namespace}datasets/${e.hub}/${e.date}/${e.operator}`]!);
      expect(ad).toMatchObject({ commit: e.commit, remote: `file://${archive}` });
      expect(ad.signature).toMatch(/^ed25519:/);
    }
    expect(Object.keys(world.etcdGet('operators/')).sort()).toEqual([`${world.namespace}operators/lab-a`, `${world.namespace}operators/lab-b`]);
    // A peer retrieves from the archive (its tags are under refs/tags/<operator>/...), signatures verified.
    const got = await b.syncer(['retrieve', '--hub', HUB, '--date', DATES[4]!, '--operator', 'lab-a', '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(git(JSON.parse(got.stdout).target, 'rev-parse', 'HEAD')).toBe(mirrored.find((e) => e.date === DATES[4] && e.operator === 'lab-a')!.commit);
    expect(git(JSON.parse(got.stdout).target, 'remote', 'get-url', 'origin')).toBe(`file://${archive}`);
    // Idempotent, and existing entries are never repointed.
    const again = await archivist.syncer(['reindex', '--from-mirror', archive, '--json']);
    expect(json(again)).toMatchObject({ added: 0, updated: 0 });
  });
});
