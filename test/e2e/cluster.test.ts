/**
 * A 3-member etcd cluster of our own (not the suite's single etcd), real git remotes, the real CLI:
 * - all members up (baseline);
 * - one member stopped (the leader, a follower, member 0) or frozen (SIGSTOP: accepts TCP, never
 *   answers): sync, retrieve and ls keep working, with the right data, commit and keys;
 * - a member killed (or frozen) from a git hook in the middle of a sync's push, so that the
 *   advertisement happens during a leader election: exit 0, or exit 3 with a clean error, and a
 *   rerun completes it without a second commit;
 * - quorum lost (2 of 3 stopped, 2 of 3 frozen): exit 3 within the deadline, nothing committed or
 *   pushed; once the members are back, a rerun succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator, type RunResult } from '../helpers/world.js';
import { startCluster, type Cluster } from '../helpers/etcd.js';
import { alive, kill9, leaderIndex, readPrefix, waitAllHealthy } from '../helpers/cluster-helpers.js';
import { exitFailed, installHook, remoteRefs, removeHook, snapshot } from '../helpers/failures-helpers.js';
import { oneDay } from '../helpers/faketime.js';

let cluster: Cluster;
let world: World;
let a: Operator; // publishes
let b: Operator; // retrieves and lists
const timings: string[] = [];
/**
 * lab-a's syncs run at increasing times of today: a sync and its rerun share that date even when
 * the run crosses midnight (scripts/test-dates.sh).
 */
const day = oneDay();
const today = () => day.date;

beforeAll(async () => {
  cluster = await startCluster(3);
  world = new World(cluster.hosts);
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
}, 90_000);

afterAll(async () => {
  // Measured times, for the record (visible with --reporter=verbose or in the console output).
  console.log(`cluster.test.ts timings:\n  ${timings.join('\n  ')}`);
  await cluster?.close();
  world?.cleanup();
});

const ALL = [0, 1, 2];
const others = (...out: number[]) => ALL.filter((i) => !out.includes(i));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const commits = (op: Operator) => Number(git(op.repo, 'rev-list', '--count', 'HEAD'));
const noStack = (r: RunResult) => expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at .+[:(]\d+/m);

async function timed(label: string, p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  timings.push(`${label}: exit ${r.code} in ${r.ms} ms`);
  return r;
}

/** Back to three healthy members, whatever a test did to them. */
async function restoreAll(): Promise<void> {
  for (const i of ALL) cluster.thaw(i);
  await Promise.all(ALL.filter((i) => !alive(cluster, i)).map((i) => cluster.start(i).catch(() => undefined)));
  await waitAllHealthy(cluster);
}

/** The advertisement of lab-a for hub today, read through the live members only. */
async function advertisement(live: number[], hub: string): Promise<Record<string, unknown> | undefined> {
  const key = `${world.namespace}datasets/${hub}/${today()}/${a.name}`;
  const raw = (await readPrefix(cluster, live, key))[key];
  return raw === undefined ? undefined : (JSON.parse(raw) as Record<string, unknown>);
}

/**
 * One full round against the cluster as it is: a publishes new data for `hub`, b retrieves it and
 * lists it. Everything checked against git and against etcd (through the live members).
 */
async function roundTrip(label: string, hub: string, live: number[], bound: { sync: number; other: number }): Promise<void> {
  const data = `round,${label}\n${Date.now()},${Math.random()}\n`;
  a.write({ [`${hub}/data.csv`]: data });
  const before = commits(a);

  const s = await timed(`${label} sync`, a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
  exitFailed(s, 0);
  const out = JSON.parse(s.stdout);
  const head = git(a.repo, 'rev-parse', 'HEAD');
  expect(out).toMatchObject({ hub, date: today(), operator: 'lab-a', commit: head, committed: true, files: 1 });
  expect(commits(a)).toBe(before + 1);
  expect(remoteRefs(a.remoteDir)['refs/heads/main']).toBe(head);
  expect(remoteRefs(a.remoteDir)[`refs/tags/syncer/${hub}/${today()}`]).toBe(head);
  expect(await advertisement(live, hub)).toMatchObject({ schema: 1, hub, operator: 'lab-a', commit: head, remote: a.remoteUrl, path: hub, files: 1 });
  expect(Object.keys(await readPrefix(cluster, live, `${world.namespace}index/dates/${hub}/`))).toEqual([`${world.namespace}index/dates/${hub}/${today()}`]);
  expect(await readPrefix(cluster, live, `${world.namespace}inprogress/`), 'in-progress marker removed').toEqual({});
  expect(s.ms, `${label} sync took ${s.ms} ms`).toBeLessThan(bound.sync);

  const r = await timed(`${label} retrieve`, b.syncer(['retrieve', '--hub', hub, '--date', 'latest', '--operator', 'lab-a', '--json']));
  exitFailed(r, 0);
  const target = join(b.importDir, hub, today(), 'lab-a');
  expect(JSON.parse(r.stdout)).toMatchObject({ hub, date: today(), operator: 'lab-a', commit: head, target });
  expect(readFileSync(join(target, hub, 'data.csv'), 'utf8')).toBe(data);
  expect(git(target, 'rev-parse', 'HEAD')).toBe(head);
  expect(r.ms, `${label} retrieve took ${r.ms} ms`).toBeLessThan(bound.other);

  const hubs = await timed(`${label} ls`, b.syncer(['ls', '--json']));
  exitFailed(hubs, 0);
  expect(JSON.parse(hubs.stdout)).toContainEqual({ hub, latestDate: today(), dates: 1 });
  expect(hubs.ms, `${label} ls took ${hubs.ms} ms`).toBeLessThan(bound.other);
  const dates = await timed(`${label} ls hub`, b.syncer(['ls', hub, '--json']));
  exitFailed(dates, 0);
  expect(JSON.parse(dates.stdout)).toEqual([{ date: today(), operators: ['lab-a'] }]);
  const entries = await timed(`${label} ls hub date`, b.syncer(['ls', hub, today(), '--json']));
  exitFailed(entries, 0);
  expect(JSON.parse(entries.stdout)).toEqual([expect.objectContaining({ operator: 'lab-a', commit: head, files: 1, remote: a.remoteUrl })]);
}

// A sync makes 8 registry calls; with a frozen member each may lose one attempt (timeoutMs / 3) to it
// before failing over, so it is slower but each call stays within its 5 s deadline.
const HEALTHY = { sync: 15_000, other: 10_000 };
const DEGRADED = { sync: 30_000, other: 12_000 };

describe('3-member cluster, all members up', () => {
  it('baseline: sync, retrieve and ls work', async () => {
    await roundTrip('all up', 'base', ALL, HEALTHY);
  });
});

describe('one member stopped: sync, retrieve and ls keep working', () => {
  it('the leader stopped', async () => {
    const leader = await leaderIndex(cluster);
    await cluster.stop(leader);
    try {
      await roundTrip(`leader m${leader} stopped`, 'stop-leader', others(leader), HEALTHY);
    } finally {
      await restoreAll();
    }
  });

  it('a follower stopped', async () => {
    const leader = await leaderIndex(cluster);
    const follower = others(leader)[0]!;
    await cluster.stop(follower);
    try {
      await roundTrip(`follower m${follower} stopped`, 'stop-follower', others(follower), HEALTHY);
    } finally {
      await restoreAll();
    }
  });

  it('member 0 (the first host in the list) stopped', async () => {
    await cluster.stop(0);
    try {
      await roundTrip('m0 stopped', 'stop-first', others(0), HEALTHY);
    } finally {
      await restoreAll();
    }
  });
});

describe('one member frozen (SIGSTOP: accepts connections, never answers): still works, within the deadlines', () => {
  it('the leader frozen', async () => {
    const leader = await leaderIndex(cluster);
    cluster.freeze(leader);
    try {
      await roundTrip(`leader m${leader} frozen`, 'freeze-leader', others(leader), DEGRADED);
    } finally {
      await restoreAll();
    }
  });

  it('a follower frozen', async () => {
    const leader = await leaderIndex(cluster);
    const follower = others(leader)[1]!;
    cluster.freeze(follower);
    try {
      await roundTrip(`follower m${follower} frozen`, 'freeze-follower', others(follower), DEGRADED);
    } finally {
      await restoreAll();
    }
  });
});

describe('a member lost in the middle of a sync (from a git hook during the push)', () => {
  /**
   * The hook takes the leader out during the push, so the advertisement is written during the
   * election. Exit 0, or exit 3 with one clean error line; then a rerun (the member still down)
   * advertises the pushed commit without a second commit.
   */
  async function midPush(label: string, hub: string, hook: 'pre-receive' | 'post-receive', signal: 'KILL' | 'STOP'): Promise<void> {
    const leader = await leaderIndex(cluster);
    const pid = cluster.members[leader]!.proc!.pid!;
    installHook(a.remoteDir, hook, `#!/bin/sh\ncat >/dev/null\nkill -${signal} ${pid}\nexit 0\n`);
    try {
      a.write({ [`${hub}/data.csv`]: `mid,${label}\n${Date.now()}\n` });
      const before = commits(a);
      const first = await timed(`${label} sync (leader m${leader} lost mid-push)`, a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
      removeHook(a.remoteDir, hook);
      if (signal === 'KILL') expect(alive(cluster, leader), 'the hook killed the leader').toBe(false);
      expect([0, 3], `exit code (stderr: ${first.stderr})`).toContain(first.code);
      noStack(first);
      if (first.code === 3) {
        const errors = first.stderr.split('\n').filter((l) => l.startsWith('error:'));
        expect(errors, first.stderr).toHaveLength(1);
        expect(first.stdout).toBe('');
      }
      expect(first.ms).toBeLessThan(30_000);
      const head = git(a.repo, 'rev-parse', 'HEAD');
      expect(commits(a), 'one commit').toBe(before + 1);
      expect(remoteRefs(a.remoteDir)['refs/heads/main'], 'the push went through').toBe(head);

      // Rerun with the member still down: completes the job, no second commit.
      const again = await timed(`${label} rerun (m${leader} still down)`, a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
      exitFailed(again, 0);
      expect(JSON.parse(again.stdout)).toMatchObject({ committed: false, commit: head });
      expect(commits(a), 'no second commit').toBe(before + 1);
      expect(await advertisement(others(leader), hub)).toMatchObject({ commit: head });

      const ls = await timed(`${label} ls (m${leader} still down)`, b.syncer(['ls', hub, today(), '--json']));
      exitFailed(ls, 0);
      expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ operator: 'lab-a', commit: head })]);
    } finally {
      removeHook(a.remoteDir, hook);
      await restoreAll();
    }
    // And with every member back, the entry is there for everyone.
    expect(await advertisement(ALL, hub)).toMatchObject({ commit: git(a.repo, 'rev-parse', 'HEAD') });
  }

  it('leader killed (kill -9) in post-receive: the advertisement meets the election', async () => {
    await midPush('post-receive kill -9', 'mid-kill', 'post-receive', 'KILL');
  });

  it('leader frozen (SIGSTOP) in pre-receive: the push finishes, the advertisement meets a silent leader', async () => {
    await midPush('pre-receive SIGSTOP', 'mid-freeze', 'pre-receive', 'STOP');
  });

  it('quorum lost in post-receive (leader and a follower killed): exit 3 "pushed but not advertised", a rerun completes it', async () => {
    const hub = 'mid-quorum';
    const leader = await leaderIndex(cluster);
    const follower = others(leader)[0]!;
    const pids = [leader, follower].map((i) => cluster.members[i]!.proc!.pid!);
    installHook(a.remoteDir, 'post-receive', `#!/bin/sh\ncat >/dev/null\nkill -KILL ${pids.join(' ')}\nexit 0\n`);
    a.write({ [`${hub}/data.csv`]: `mid-quorum\n${Date.now()}\n` });
    const before = commits(a);
    let head: string;
    try {
      const first = await timed('quorum lost mid-push sync', a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
      removeHook(a.remoteDir, 'post-receive');
      expect(alive(cluster, leader) || alive(cluster, follower), 'the hook killed both').toBe(false);
      exitFailed(first, 3);
      noStack(first);
      expect(first.stdout).toBe('');
      head = git(a.repo, 'rev-parse', 'HEAD');
      const errors = first.stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(errors, first.stderr).toEqual([expect.stringContaining(`pushed ${head.slice(0, 12)} but could not advertise it`)]);
      expect(first.stderr).toMatch(/^hint: .*again/m);
      // The push went through before the registry was lost; the advertisement must fail within its deadline.
      expect(first.ms, `took ${first.ms} ms`).toBeLessThan(12_000);
      expect(commits(a)).toBe(before + 1);
      expect(remoteRefs(a.remoteDir)['refs/heads/main']).toBe(head);
    } finally {
      removeHook(a.remoteDir, 'post-receive');
      await restoreAll();
    }
    expect(await advertisement(ALL, hub), 'nothing was advertised').toBeUndefined();

    const again = await timed('quorum lost mid-push rerun after restore', a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
    exitFailed(again, 0);
    expect(JSON.parse(again.stdout)).toMatchObject({ committed: false, commit: head!, advertised: 'created' });
    expect(commits(a), 'no second commit').toBe(before + 1);
    expect(await advertisement(ALL, hub)).toMatchObject({ commit: head! });
    expect(await readPrefix(cluster, ALL, `${world.namespace}inprogress/`), 'in-progress marker removed by the advertisement').toEqual({});
  });
});

describe('quorum lost: exit 3 within the deadline, nothing committed or pushed; back up, a rerun succeeds', () => {
  async function quorumLost(label: string, hub: string, down: number[], takeDown: (i: number) => Promise<void> | void): Promise<void> {
    a.write({ [`${hub}/data.csv`]: `quorum,${label}\n` });
    const before = snapshot(a);
    const t0 = Date.now();
    await Promise.all(down.map((i) => takeDown(i)));
    timings.push(`${label}: members ${down.join(',')} taken down in ${Date.now() - t0} ms`);
    try {
      // Default deadline (5 s): ls, sync and retrieve at once (they only wait).
      // Started 400 ms apart so that their start-ups do not fight over the two cores.
      const [ls, sync, retrieve] = await Promise.all([
        timed(`${label} ls`, b.syncer(['ls', '--json'])),
        sleep(400).then(() => timed(`${label} sync`, a.syncer(['sync', '--hub', hub, '--json']))), // fails before any date is used
        sleep(800).then(() =>
          timed(
            `${label} retrieve`,
            b.syncer(['retrieve', '--hub', 'base', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, `q-${hub}`), '--json']),
          ),
        ),
      ]);
      for (const [what, r] of [
        ['ls', ls],
        ['sync', sync],
        ['retrieve', retrieve],
      ] as const) {
        exitFailed(r, 3);
        expect(r.stdout, `${what}: nothing on stdout`).toBe('');
        expect(r.stderr, `${what}: names etcd`).toMatch(/^error: .*etcd/m);
        noStack(r);
        // The 5 s deadline plus a CLI start-up on a loaded 2-core machine.
        expect(r.ms, `${what} took ${r.ms} ms`).toBeLessThan(9_500);
      }
      // Nothing committed, tagged or pushed; the working tree as it was.
      expect(snapshot(a)).toEqual(before);

      // A smaller deadline is honoured.
      const env = { SYNCER_ETCD_TIMEOUT_MS: '2000' };
      const [ls2, sync2] = await Promise.all([
        timed(`${label} ls (2 s deadline)`, b.syncer(['ls', '--json'], { env })),
        sleep(400).then(() => timed(`${label} sync (2 s deadline)`, a.syncer(['sync', '--hub', hub, '--json'], { env }))),
      ]);
      for (const [what, r] of [
        ['ls', ls2],
        ['sync', sync2],
      ] as const) {
        exitFailed(r, 3);
        noStack(r);
        expect(r.ms, `${what} with a 2 s deadline took ${r.ms} ms`).toBeLessThan(5_000); // ignoring it would take over 5 s (frozen)
      }
      expect(snapshot(a)).toEqual(before);
    } finally {
      const t1 = Date.now();
      await restoreAll();
      timings.push(`${label}: restored in ${Date.now() - t1} ms`);
    }

    // Members back: the same sync completes.
    const again = await timed(`${label} rerun after restore`, a.syncer(['sync', '--hub', hub, '--json'], { at: day.at() }));
    exitFailed(again, 0);
    const head = git(a.repo, 'rev-parse', 'HEAD');
    expect(JSON.parse(again.stdout)).toMatchObject({ committed: true, commit: head });
    expect(commits(a)).toBe(before.commits + 1);
    expect(remoteRefs(a.remoteDir)['refs/heads/main']).toBe(head);
    expect(await advertisement(ALL, hub)).toMatchObject({ commit: head });
    const ls = await timed(`${label} ls after restore`, b.syncer(['ls', hub, today(), '--json']));
    exitFailed(ls, 0);
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ operator: 'lab-a', commit: head })]);
  }

  it('2 of 3 members stopped (kill -9, the leader among them)', async () => {
    const leader = await leaderIndex(cluster);
    await quorumLost('2 stopped', 'q-stop', [leader, others(leader)[0]!], (i) => kill9(cluster, i));
  });

  it('2 of 3 members frozen (SIGSTOP, the leader among them)', async () => {
    const leader = await leaderIndex(cluster);
    await quorumLost('2 frozen', 'q-freeze', [leader, others(leader)[1]!], (i) => cluster.freeze(i));
  });
});
