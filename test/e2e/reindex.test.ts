/**
 * reindex end to end: real etcd, real git remotes, the real CLI. Several operators sync several
 * hubs and dates; the whole namespace is wiped; reindex from a remotes file brings back every key
 * with the same value. Then: idempotence, dry run, stale tags and --prune, unreachable remotes,
 * forged tags, bad input.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { git, run, World, type Operator, type RunOptions, type RunResult } from '../helpers/world.js';
import { freshKey, operatorKey, signAd } from '../helpers/forge.js';

const D1 = '2026-10-01';
const D2 = '2026-10-02';
const D3 = '2026-10-03';
let world: World;
let a: Operator;
let b: Operator;
let c: Operator;
let remotesFile: string;
let tmp: string;
let admin: Record<string, string | undefined>;
/** Every key of the namespace (datasets/, index/, operators/) with its value, right after the syncs. */
let original: Record<string, string>;

const etcdctl = (...args: string[]) =>
  execFileSync('etcdctl', ['--endpoints', world.etcdHosts, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
const wipe = () => etcdctl('del', '--prefix', world.namespace);
const all = () => world.etcdGet('');
/** key -> mod revision of every key in the namespace (the revision of the whole cluster moves with other test files). */
function modRevisions(): Record<string, string> {
  const out = JSON.parse(etcdctl('get', '--prefix', world.namespace, '-w', 'json')) as { kvs?: { key: string; mod_revision: number }[] };
  return Object.fromEntries((out.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), String(kv.mod_revision)]));
}
/** syncer reindex as an admin who is none of the operators (own HOME: own pins). */
const reindex = (args: string[], env: Record<string, string | undefined> = {}, options: RunOptions = {}): Promise<RunResult> =>
  run(['reindex', ...args], { timeoutMs: 120_000, ...options, env: { ...admin, ...env } });
const json = (r: RunResult) => JSON.parse(r.stdout);

async function sync(op: Operator, hub: string, at: string, content: string) {
  op.write({ [`${hub}/data.csv`]: content });
  const r = await op.syncer(['sync', '--hub', hub], { at });
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b, c] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('lab-c')]);
  await Promise.all([
    (async () => {
      await sync(a, 'weather', `${D1} 09:00:00`, 'a,1\n');
      await sync(a, 'weather', `${D2} 09:00:00`, 'a,2\n');
      await sync(a, 'traffic', `${D2} 10:00:00`, 'a,t\n');
    })(),
    (async () => {
      await sync(b, 'weather', `${D1} 11:00:00`, 'b,1\n');
      await sync(b, 'traffic', `${D1} 12:00:00`, 'b,t\n');
    })(),
    (async () => {
      await sync(c, 'weather', `${D2} 08:00:00`, 'c,1\n');
      await sync(c, 'weather', `${D2} 18:00:00`, 'c,2\n'); // same day: the tag moves, the entry is replaced
    })(),
  ]);
  tmp = join(world.root, 'tmp');
  mkdirSync(tmp, { recursive: true });
  admin = { HOME: join(world.root, 'homes', 'admin'), SYNCER_ETCD_HOSTS: world.etcdHosts, SYNCER_ETCD_NAMESPACE: world.namespace, TMPDIR: tmp };
  remotesFile = join(world.root, 'remotes.txt');
  writeFileSync(remotesFile, `# operator url\n${[a, b, c].map((o) => `${o.name} ${o.remoteUrl}`).join('\n')}\n\n`);
  original = all();
}, 180_000);
afterAll(() => world.cleanup());

describe('reindex rebuilds the registry from the remotes', () => {
  it('brings back every datasets/, index/ and operators/ key with the same value after the namespace is wiped', async () => {
    const keys = Object.keys(original);
    expect(keys.filter((k) => k.includes('/datasets/'))).toHaveLength(6);
    expect(keys.filter((k) => k.includes('/index/dates/'))).toHaveLength(4); // weather D1 D2, traffic D1 D2
    expect(keys.filter((k) => k.includes('/operators/'))).toHaveLength(3);
    expect(keys.filter((k) => k.includes('/inprogress/'))).toEqual([]);
    wipe();
    expect(all()).toEqual({});

    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out).toMatchObject({ dryRun: false, added: 6, updated: 0, unchanged: 0, pruned: 0, stale: [], skipped: [], markers: { added: 4, removed: 0 } });
    expect(out.operators.added.sort()).toEqual(['lab-a', 'lab-b', 'lab-c']);
    expect(out.remotes).toEqual(
      [a, b, c].map((o) => expect.objectContaining({ operator: o.name, url: o.remoteUrl, source: 'file', ok: true, record: 'repository' })),
    );
    expect(out.remotes.map((x: { tags: number }) => x.tags)).toEqual([3, 2, 1]);
    expect(out.transactions).toBe(1); // 3 records + 6 ads + 4 markers: one transaction
    expect(all()).toEqual(original);
    // The temporary repositories are gone.
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a second run writes nothing', async () => {
    const before = modRevisions();
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ added: 0, updated: 0, unchanged: 6, pruned: 0, markers: { added: 0 }, transactions: 0, skipped: [] });
    expect(json(r).operators.unchanged.sort()).toEqual(['lab-a', 'lab-b', 'lab-c']);
    expect(modRevisions()).toEqual(before);
  });

  it('reads the registered operators without any flag; text output is a short summary', async () => {
    const before = modRevisions();
    const r = await reindex([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/remotes\s+3 read/);
    expect(r.stdout).toMatch(/datasets\s+0 added, 0 updated, 6 unchanged, 0 stale/);
    expect(modRevisions()).toEqual(before);
  });

  it('--dry-run shows the plan and writes nothing; the real run then restores the same values', async () => {
    const gone = [`datasets/weather/${D2}/lab-c`, `index/dates/traffic/${D1}`, 'operators/lab-b', `datasets/traffic/${D1}/lab-b`];
    for (const k of gone) etcdctl('del', world.namespace + k);
    const before = modRevisions();
    const r = await reindex(['--remotes-file', remotesFile, '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out).toMatchObject({ dryRun: true, added: 2, updated: 0, unchanged: 4, markers: { added: 1 }, operators: { added: ['lab-b'] } });
    expect(out.changes.added.sort()).toEqual([`traffic/${D1}/lab-b`, `weather/${D2}/lab-c`]);
    expect(modRevisions()).toEqual(before);
    const text = await reindex(['--remotes-file', remotesFile, '--dry-run']);
    expect(text.stdout).toMatch(/dry run: nothing was written/);
    expect(text.stdout).toMatch(new RegExp(`add\\s+weather/${D2}/lab-c`));
    expect(modRevisions()).toEqual(before);

    const real = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(real.code, real.stderr).toBe(0);
    expect(json(real)).toMatchObject({ added: 2, markers: { added: 1 } });
    expect(all()).toEqual(original);
  });

  it('replaces a registry entry that is older than the tag, or broken', async () => {
    const key = `datasets/weather/${D1}/lab-a`;
    const genuine = JSON.parse(original[world.namespace + key]!);
    world.etcdPut(key, JSON.stringify(signAd({ ...genuine, syncedAt: '2026-10-01T08:00:00.000Z', message: 'older' }, operatorKey(a))));
    world.etcdPut(`datasets/weather/${D1}/lab-b`, '{not json');
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ added: 0, updated: 2, unchanged: 4 });
    expect(all()).toEqual(original);
  });

  it('leaves a newer registry entry alone, with a reason', async () => {
    const key = `datasets/weather/${D1}/lab-a`;
    const genuine = JSON.parse(original[world.namespace + key]!);
    const newer = JSON.stringify(signAd({ ...genuine, syncedAt: '2026-10-01T23:00:00.000Z' }, operatorKey(a)));
    world.etcdPut(key, newer);
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ updated: 0, skipped: [{ key: world.namespace + key, reason: expect.stringMatching(/newer advertisement/) }] });
    expect(world.etcdGet(key)[world.namespace + key]).toBe(newer);
    world.etcdPut(key, original[world.namespace + key]!);
  });
});

describe('stale entries', () => {
  it('an entry whose tag is gone is reported as stale, and removed (with its index marker) only with --prune', async () => {
    git(a.remoteDir, 'tag', '-d', `syncer/traffic/${D2}`);
    const key = `${world.namespace}datasets/traffic/${D2}/lab-a`;
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ pruned: 0, stale: [{ hub: 'traffic', date: D2, operator: 'lab-a' }] });
    expect(r.stderr).toMatch(/stale: traffic\/2026-10-02\/lab-a/);
    expect(all()[key]).toBeDefined();

    const p = await reindex(['--remotes-file', remotesFile, '--prune', '--json']);
    expect(p.code, p.stderr).toBe(0);
    expect(json(p)).toMatchObject({ pruned: 1, markers: { removed: 1 }, changes: { pruned: [`traffic/${D2}/lab-a`] } });
    const now = all();
    expect(now[key]).toBeUndefined();
    expect(now[`${world.namespace}index/dates/traffic/${D2}`]).toBeUndefined(); // nobody else had traffic on D2
    expect(now[`${world.namespace}index/dates/traffic/${D1}`]).toBe('');
    const expected = { ...original };
    delete expected[key];
    delete expected[`${world.namespace}index/dates/traffic/${D2}`];
    expect(now).toEqual(expected);
    original = expected;
  });

  it('an unreachable remote is reported, the others are still indexed, nothing of it is pruned, exit 4', async () => {
    wipe();
    for (const [k, v] of Object.entries(original).filter(([k]) => k.includes('/lab-a'))) world.etcdPut(k.slice(world.namespace.length), v);
    const file = join(world.root, 'remotes-broken.txt');
    writeFileSync(file, `lab-a file:///nonexistent/lab-a.git\nlab-b ${b.remoteUrl}\nlab-c ${c.remoteUrl}\nlab-d git://127.0.0.1:1/lab-d.git\n`);
    const r = await reindex(['--remotes-file', file, '--prune', '--json']);
    expect(r.code, r.stderr).toBe(4);
    const out = json(r);
    expect(out.remotes.filter((x: { ok: boolean }) => !x.ok).map((x: { operator: string }) => x.operator)).toEqual(['lab-a', 'lab-d']);
    expect(out.remotes[0].error).toMatch(/does not appear to be a git repository|not found|No such/);
    expect(out.remotes[3].error).toMatch(/unable to connect|Connection refused/);
    expect(out).toMatchObject({ added: 3, pruned: 0 });
    expect(r.stderr).toMatch(/error: 2 of 4 remote\(s\) could not be read \(lab-a, lab-d\)/);
    // lab-a's entries were kept (its remote was not read); the rest came back.
    const now = all();
    for (const k of Object.keys(original).filter((k) => !k.includes('/operators/lab-a'))) expect(now[k], k).toBe(original[k]);
    expect(readdirSync(tmp)).toEqual([]);
    expect((await reindex(['--remotes-file', remotesFile])).code).toBe(0);
    expect(all()).toEqual(original);
  });
});

describe('remotes that misbehave', () => {
  it('a remote without a single syncer tag (a wrong URL?) has its entries reported as stale, never pruned', async () => {
    const empty = world.bareRemote('empty');
    const before = modRevisions();
    const r = await reindex(['--remote', `lab-b=${empty.url}`, '--prune', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out.stale).toHaveLength(2);
    expect(out).toMatchObject({
      pruned: 0,
      skipped: expect.arrayContaining([{ operator: 'lab-b', reason: expect.stringMatching(/no syncer\/<hub>\/<date> tags at all/) }]),
    });
    expect(modRevisions()).toEqual(before);
    // An empty remote is a normal state (registered, never synced): said so, without git's words.
    expect(r.stderr).toMatch(/is empty \(nothing pushed yet\)/);
    expect(r.stderr).not.toMatch(/couldn't find remote ref/);
  });

  describe('a remote that accepts connections and never answers', () => {
    let server: ReturnType<typeof createServer>;
    let port: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      server = createServer((s) => void sockets.push(s));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });

    it('is stopped after the stall timeout and reported (exit 4); the others are still read', async () => {
      const r = await reindex(['--remote', `lab-x=git://127.0.0.1:${port}/x.git`, '--remote', `lab-a=${a.remoteUrl}`, '--json'], {
        SYNCER_GIT_STALL_TIMEOUT: '1',
      });
      expect(r.code, r.stderr).toBe(4);
      const out = json(r);
      expect(out.remotes[0]).toMatchObject({ operator: 'lab-x', ok: false, error: expect.stringMatching(/made no progress for 1 s/) });
      expect(out.remotes[1]).toMatchObject({ operator: 'lab-a', ok: true });
      expect(readdirSync(tmp)).toEqual([]);
    });

    it('Ctrl-C while waiting on it: exit 130, nothing written, no temporary repository left', async () => {
      const before = modRevisions();
      const r = await reindex(
        ['--remote', `lab-x=git://127.0.0.1:${port}/x.git`],
        {},
        { onSpawn: (child) => void setTimeout(() => child.kill('SIGINT'), 1500) },
      );
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/interrupted/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readdirSync(tmp)).toEqual([]);
      expect(modRevisions()).toEqual(before);
    });
  });
});

describe('racing a sync', () => {
  it('a unit whose key changed since the snapshot is left alone; the rest of its transaction still commits', async () => {
    const { Registry } = await import('../../src/adapters/registry.js');
    const { planReindex } = await import('../../src/commands/reindex/plan.js');
    const { commitPlan, readSnapshot } = await import('../../src/commands/reindex/write.js');
    const ns = `${world.namespace}race/`;
    const registry = new Registry({ hosts: world.etcdHosts.split(','), timeoutMs: 5000, namespace: ns, transports: ['file'], warn: () => undefined });
    try {
      const values = Object.entries(original)
        .filter(([k]) => /\/datasets\/.*\/lab-a$/.test(k))
        .map(([, v]) => v)
        .slice(0, 2);
      expect(values).toHaveLength(2);
      const ads = values.map((value) => ({ ad: JSON.parse(value), value }));
      const snapshot = await readSnapshot(registry, new Set(['lab-a']));
      const plan = planReindex({
        keys: registry.keys,
        snapshot,
        prune: false,
        transports: ['file'],
        operators: [{ operator: 'lab-a', complete: true, ads, present: [] }],
      });
      expect(plan.txns).toHaveLength(1);
      // Meanwhile a sync writes the first key, and another reindex the second (the same value).
      const [first, second] = ads.map(({ ad }) => `${ns}datasets/${ad.hub}/${ad.date}/lab-a`) as [string, string];
      etcdctl('put', first, '--', '{"concurrent":true}');
      etcdctl('put', second, '--', values[1]!);
      const res = await commitPlan(registry, plan.txns, new AbortController().signal);
      expect(res.conflicts.map((u) => u.ids[0])).toEqual([`${ads[0]!.ad.hub}/${ads[0]!.ad.date}/lab-a`]);
      expect(res.applied).toHaveLength(1);
      const got = world.etcdGet('race/');
      expect(got[first]).toBe('{"concurrent":true}');
      expect(got[second]).toBe(values[1]);
      expect(Object.keys(got).filter((k) => k.includes('/index/dates/'))).toHaveLength(1); // the applied unit's marker
    } finally {
      await registry.close();
      etcdctl('del', '--prefix', ns);
    }
  });
});

describe('forged tags', () => {
  const tagInRemote = (op: Operator, tag: string, message: string, commit: string) =>
    git(op.remoteDir, '-c', 'user.name=Mallory', '-c', 'user.email=m@example.org', 'tag', '-a', '-f', '-m', message, tag, commit);

  it('a tag whose advertisement is signed by another key is skipped; the registry entry stays', async () => {
    const key = `${world.namespace}datasets/weather/${D1}/lab-a`;
    const genuine = JSON.parse(original[key]!);
    const forged = signAd({ ...genuine, message: 'forged', syncedAt: '2026-10-01T20:00:00.000Z' }, freshKey());
    tagInRemote(a, `syncer/weather/${D1}`, JSON.stringify(forged), genuine.commit);
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).skipped).toEqual([{ operator: 'lab-a', tag: `syncer/weather/${D1}`, reason: expect.stringMatching(/bad signature/) }]);
    expect(json(r)).toMatchObject({ updated: 0, stale: [] }); // still present in git: never stale
    expect(r.stderr).toMatch(/warning: skipped tag syncer\/weather\/2026-10-01 of lab-a: .*bad signature/);
    expect(all()[key]).toBe(original[key]);
    tagInRemote(a, `syncer/weather/${D1}`, original[key]!, genuine.commit);
  });

  it('a tag pointing at another commit than it advertises is skipped, even with a genuine signature', async () => {
    const genuine = JSON.parse(original[`${world.namespace}datasets/weather/${D2}/lab-a`]!);
    const other = git(a.repo, 'rev-parse', `syncer/weather/${D1}^{commit}`);
    const ad = signAd({ ...genuine, date: D3, tag: `syncer/weather/${D3}`, syncedAt: `${D3}T09:00:00.000Z` }, operatorKey(a));
    tagInRemote(a, `syncer/weather/${D3}`, JSON.stringify(ad), other);
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).skipped).toEqual([
      { operator: 'lab-a', tag: `syncer/weather/${D3}`, reason: `the tag points to ${other.slice(0, 12)} but advertises ${genuine.commit.slice(0, 12)}` },
    ]);
    expect(all()[`${world.namespace}datasets/weather/${D3}/lab-a`]).toBeUndefined();
    // The same advertisement on the right commit is indexed.
    tagInRemote(a, `syncer/weather/${D3}`, JSON.stringify(ad), genuine.commit);
    const ok = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(json(ok)).toMatchObject({ added: 1, skipped: [] });
    git(a.remoteDir, 'tag', '-d', `syncer/weather/${D3}`);
    expect(json(await reindex(['--remotes-file', remotesFile, '--prune', '--json']))).toMatchObject({ pruned: 1 });
    expect(all()).toEqual(original);
  });

  it('a tag advertising another operator, and an unsigned one, are skipped (unsigned accepted with --allow-unsigned)', async () => {
    // lab-b's advertisement, correctly signed by lab-b, planted in lab-a's remote (on one of lab-a's commits).
    const own = git(a.repo, 'rev-parse', `syncer/weather/${D1}^{commit}`);
    tagInRemote(a, `syncer/weather/${D3}`, original[`${world.namespace}datasets/weather/${D1}/lab-b`]!.replace(D1, D3), own);
    const unsigned = { ...JSON.parse(original[`${world.namespace}datasets/weather/${D2}/lab-a`]!), date: '2026-10-04', tag: 'syncer/weather/2026-10-04' };
    delete unsigned.signature;
    tagInRemote(a, 'syncer/weather/2026-10-04', JSON.stringify(unsigned), unsigned.commit);
    const r = await reindex(['--remotes-file', remotesFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const reasons = Object.fromEntries(json(r).skipped.map((s: { tag: string; reason: string }) => [s.tag, s.reason]));
    expect(reasons[`syncer/weather/${D3}`]).toMatch(/field (operator|date|tag)/);
    expect(reasons['syncer/weather/2026-10-04']).toMatch(/is not signed/);
    const allowed = await reindex(['--remotes-file', remotesFile, '--allow-unsigned', '--json']);
    expect(json(allowed)).toMatchObject({ added: 1 });
    expect(allowed.stderr).toMatch(/weather\/2026-10-04\/lab-a is not signed; accepted because of --allow-unsigned/);
    git(a.remoteDir, 'tag', '-d', `syncer/weather/${D3}`, 'syncer/weather/2026-10-04');
    expect(json(await reindex(['--remotes-file', remotesFile, '--prune', '--json']))).toMatchObject({ pruned: 1 });
    expect(all()).toEqual(original);
  });
});

describe('bad input', () => {
  it.each([
    [['--remote', 'lab-a'], /expected OPERATOR=URL/],
    [['--remote', 'Lab-A=file:///tmp/x.git'], /invalid operator "Lab-A"/],
    [['--remote', 'lab-a=ext::sh%20-c%20touch%20/tmp/pwned'], /"<transport>::" helper/],
    [['--remote', 'lab-a=--upload-pack=touch%20/tmp/pwned'], /begins with "-"/],
    [['--remote', 'lab-a=file:///a.git', '--remote', 'lab-a=file:///b.git'], /two remotes/],
    [['--remotes-file', '/nonexistent/remotes.txt'], /cannot read --remotes-file/],
  ])('%j is exit 2', async (args, message) => {
    const before = modRevisions();
    const r = await reindex(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(modRevisions()).toEqual(before);
  });

  it('a bad remotes-file line is exit 2 naming the line; no remotes at all is exit 2', async () => {
    const file = join(world.root, 'bad-remotes.txt');
    writeFileSync(file, `lab-a ${a.remoteUrl}\nlab-b\n`);
    const r = await reindex(['--remotes-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 2: expected "operator url"/);
    const empty = await reindex([], { SYNCER_ETCD_NAMESPACE: `${world.namespace}empty/` });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no remotes to read/);
  });
});

describe('a remote whose HEAD names a branch nobody pushes (git init --bare defaults to master)', () => {
  it('still finds the operator record, in the newest tagged commit, and rebuilds everything', async () => {
    git(a.remoteDir, 'symbolic-ref', 'HEAD', 'refs/heads/master');
    try {
      wipe();
      const r = await reindex(['--remotes-file', remotesFile, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = json(r);
      expect(out.remotes.find((x: { operator: string }) => x.operator === 'lab-a')).toMatchObject({ ok: true, record: 'repository' });
      expect(out.skipped.filter((s: { operator?: string }) => s.operator === 'lab-a')).toEqual([]);
      expect(Object.keys(all()).filter((k) => k.endsWith('/datasets/') || /\/datasets\/.*\/lab-a$/.test(k)).length).toBeGreaterThan(0);
      expect(Object.keys(all())).toContain(`${world.namespace}operators/lab-a`);
    } finally {
      git(a.remoteDir, 'symbolic-ref', 'HEAD', 'refs/heads/main');
    }
  });
});
