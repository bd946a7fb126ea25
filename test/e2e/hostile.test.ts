/**
 * Registry data is attacker-controlled. Each hostile value is refused cleanly: retrieve exits 5
 * naming the problem, listings skip the entry with a warning, nothing is written outside the
 * import directory and no command runs.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { operatorKey, signAd } from '../helpers/forge.js';

let world: World;
let a: Operator;
let b: Operator;
const DATE = '2026-11-06';
let genuine: Record<string, unknown>;
const pwned = () => join(world.root, 'pwned');

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  a.write({ 'weather/t.csv': 't\n1\n' });
  const r = await a.syncer(['sync', '--hub', 'weather', '--message', 'red \u001b[31malert\u001b[0m \u0007bell'], { at: `${DATE} 10:00:00` });
  expect(r.code, r.stderr).toBe(0);
  genuine = JSON.parse(world.etcdGet(`datasets/weather/${DATE}/lab-a`)[`${world.namespace}datasets/weather/${DATE}/lab-a`]!);
});
afterAll(() => world.cleanup());

/** Put `value` (signed with lab-a's real key, so only the validation can stop it) at lab-a's key. */
function plant(fields: Record<string, unknown>, sign = true) {
  const ad = { ...genuine, ...fields };
  world.etcdPut(`datasets/weather/${DATE}/lab-a`, sign ? JSON.stringify(signAd(ad, operatorKey(a))) : JSON.stringify(ad));
}

async function expectRefused(problem: RegExp) {
  const into = join(world.root, 'target');
  const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', into]);
  expect(r.code, r.stderr).toBe(5);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(existsSync(into)).toBe(false);
  expect(existsSync(pwned())).toBe(false);
  expect(readdirSync(world.root).filter((f) => f.includes('syncer-tmp'))).toEqual([]);
  const ls = await b.syncer(['ls', 'weather', DATE, '--json']);
  expect(ls.code).toBe(0);
  expect(JSON.parse(ls.stdout)).toEqual([]);
  expect(ls.stderr).toMatch(/warning: skipping weather\/2026-11-06\/lab-a/);
}

describe('hostile advertisement fields', () => {
  it.each([
    ['a remote beginning with "-"', { remote: '--upload-pack=touch /tmp/x' }, /remote begins with "-"/],
    ['an ext:: remote', { remote: 'ext::sh%20-c%20touch%20/tmp/syncer-pwned' }, /"<transport>::" helper \(ext::/],
    ['an fd:: remote', { remote: 'fd::7' }, /transport/],
    ['a remote over another transport (ftp)', { remote: 'ftp://example.org/x.git' }, /uses ftp:\/\/, which syncer does not support/],
    ['a plain http remote', { remote: 'http://example.org/x.git' }, /uses http:\/\/, which is not allowed: syncer config set allowedTransports http/],
    ['a branch beginning with "-"', { branch: '--delete' }, /branch/],
    ['an absolute path', { path: '/etc' }, /path/],
    ['a path with ..', { path: 'weather/../../..' }, /path/],
    ['a tag not derived from hub and date', { tag: 'syncer/other/2026-11-06' }, /tag is not syncer\/weather\/2026-11-06/],
    ['a hub disagreeing with its key', { hub: 'other', tag: 'syncer/other/2026-11-06' }, /disagrees with its key/],
    ['a short commit', { commit: 'abc123' }, /commit/],
  ])('%s', async (_what, fields, problem) => {
    plant(fields);
    await expectRefused(problem);
  });

  it('ext:: in the remote runs no command even when listed', async () => {
    plant({ remote: `ext::sh -c touch% ${pwned()}` });
    await b.syncer(['ls', 'weather', DATE]);
    await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 't2')]);
    expect(existsSync(pwned())).toBe(false);
  });

  it('a value that is not JSON, or absurdly large', async () => {
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, '{"schema":1, nope');
    await expectRefused(/not JSON/);
    plant({ message: 'x'.repeat(100_000) }, false);
    await expectRefused(/limit/);
  });

  it('a commit that differs from the tag target (validly signed by the operator) is refused', async () => {
    const other = git(a.repo, 'rev-parse', 'HEAD~1');
    plant({ commit: other });
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 't3')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/tag syncer\/weather\/2026-11-06 points to [0-9a-f]{12}, but the registry advertises/);
    expect(existsSync(join(world.root, 't3'))).toBe(false);
  });

  it('an entry (validly signed) whose tag the remote does not have is refused, naming the tag', async () => {
    const date = '2026-11-10';
    const ad = signAd({ ...genuine, date, tag: `syncer/weather/${date}` }, operatorKey(a));
    world.etcdPut(`datasets/weather/${date}/lab-a`, JSON.stringify(ad));
    const into = join(world.root, 't-notag');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', date, '--operator', 'lab-a', '--into', into]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(new RegExp(`^error: the remote .* has no tag syncer/weather/${date}`, 'm'));
    expect(existsSync(into)).toBe(false);
    execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', `${world.namespace}datasets/weather/${date}/lab-a`], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  });

  it('terminal escapes in registry text are printed escaped', async () => {
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(genuine));
    const ls = await b.syncer(['ls', 'weather', DATE]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('\\x1b[31malert');
    expect(ls.stdout).not.toContain('\u001b[31m');
    expect(ls.stdout).not.toContain('\u0007');
  });
});

describe('hostile keys', () => {
  it.each([
    ['a hub with ..', 'datasets/../2026-11-06/lab-a'],
    ['a hub with a control character', 'datasets/we\u001bather/2026-11-06/lab-a'],
    ['an absurdly long operator', `datasets/weather/2026-11-07/${'o'.repeat(300)}`],
    ['an extra segment', 'datasets/weather/2026-11-07/lab-a/x'],
    ['a bad date', 'datasets/weather/2026-19-07/lab-a'],
  ])('%s is skipped by listings with a warning', async (_what, k) => {
    world.etcdPut(k, JSON.stringify(genuine));
    world.etcdPut(`index/dates/${k.split('/')[1]}/${k.split('/')[2]}`, '');
    const hubs = await b.syncer(['ls', '--json']);
    expect(hubs.code).toBe(0);
    expect(JSON.parse(hubs.stdout).map((h: { hub: string }) => h.hub)).toEqual(['weather']);
    const dates = await b.syncer(['ls', 'weather', '--json']);
    expect(dates.code).toBe(0);
    for (const d of JSON.parse(dates.stdout)) expect(d.operators.every((o: string) => o === 'lab-a')).toBe(true);
    expect(hubs.stderr + dates.stderr).not.toContain('\u001b');
  });
});

describe('entries that do not parse or verify never hide good data', () => {
  it('ls HUB skips them, and --date latest passes over them to the newest entry that verifies; retrieving one is exit 5', async () => {
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(signAd(genuine, operatorKey(a))));
    // Newer dates whose only entries are junk: not JSON, a bare {"schema":1}, and a forged signature.
    world.etcdPut('datasets/weather/2026-11-20/lab-x', 'not json');
    world.etcdPut('datasets/weather/2026-11-21/lab-y', '{"schema":1}');
    const forged = { ...genuine, date: '2026-11-22', tag: 'syncer/weather/2026-11-22', commit: 'f'.repeat(40) };
    world.etcdPut('datasets/weather/2026-11-22/lab-a', JSON.stringify(forged));

    const dates = await b.syncer(['ls', 'weather', '--json']);
    expect(dates.code, dates.stderr).toBe(0);
    expect(JSON.parse(dates.stdout)).toEqual([{ date: DATE, operators: ['lab-a'] }]);
    for (const bad of ['2026-11-20/lab-x', '2026-11-21/lab-y', '2026-11-22/lab-a']) expect(dates.stderr).toContain(`warning: skipping weather/${bad}`);

    const latest = await b.syncer(['ls', 'weather', 'latest', '--json']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(JSON.parse(latest.stdout)).toEqual([expect.objectContaining({ operator: 'lab-a', commit: genuine.commit })]);

    const into = join(world.root, 'latest-good');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--into', into, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ date: DATE, operator: 'lab-a', commit: genuine.commit });
    expect(git(into, 'rev-parse', 'HEAD')).toBe(genuine.commit);

    // Asking for a date whose only entry is refused: exit 5 naming it, not "no advertisement".
    for (const date of ['2026-11-20', '2026-11-22']) {
      const bad = await b.syncer(['retrieve', '--hub', 'weather', '--date', date, '--into', join(world.root, `bad-${date}`)]);
      expect(bad.code, bad.stderr).toBe(5);
      expect(bad.stderr).toMatch(/^error: refusing /m);
      expect(existsSync(join(world.root, `bad-${date}`))).toBe(false);
    }
  });
});
