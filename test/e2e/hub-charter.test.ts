/**
 * Issue 13, validity decided by peers: hub charters signed by their maintainers (a change needs
 * the threshold of the current maintainers; forged or under-signed versions refused), who may
 * publish (readers skip unlisted publishers), and votes of validators bound to the advertised
 * commit (`ls` shows validity, `retrieve --accepted` takes only accepted datasets).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { freshKey, operatorKey } from '../helpers/forge.js';
import { draftCharter, parseCharter, signCharter, type CharterDoc } from '../../src/core/charter.js';
import { killWatchers, startWatcher } from '../helpers/watcher.js';

let world: World;
let a: Operator;
let b: Operator;
let c: Operator;
let v: Operator;
let w: Operator;
let x: Operator;
const D1 = '2026-11-05';
const D2 = '2026-11-06';
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => world.etcdGet(k)[key(k)];
const charterKey = (hub: string, n: number) => `hubs/${hub}/charter/${String(n).padStart(8, '0')}`;
const json = (stdout: string) => JSON.parse(stdout);
const docOf = (text: string): CharterDoc => (parseCharter(text) as { ok: true; doc: CharterDoc }).doc;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b, c, v, w, x] = await Promise.all(['lab-a', 'lab-b', 'lab-c', 'lab-v', 'lab-w', 'lab-x'].map((n) => world.operator(n)));
}, 90_000);
afterAll(async () => {
  await killWatchers();
  world.cleanup();
});

describe('hub charters', () => {
  it('hub create writes version 1 once, signed by its creator, in etcd and in the creator’s repository', async () => {
    const r = await a.syncer(['hub', 'create', 'weather', '--maintainer', 'lab-a', '--maintainer', 'lab-b', '--maintainer', 'lab-c', '--threshold', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created the charter of hub weather \(version 1\)/);
    const stored = json(read(charterKey('weather', 1))!);
    expect(stored).toMatchObject({ type: 'syncer-charter', hub: 'weather', version: 1, maintainers: ['lab-a', 'lab-b', 'lab-c'], threshold: 2 });
    expect(Object.keys(stored.signatures)).toEqual(['lab-a']);
    expect(json(git(a.repo, 'show', 'HEAD:.syncer/hubs/weather/charter-00000001.json'))).toEqual(stored);

    const again = await b.syncer(['hub', 'create', 'weather', '--maintainer', 'lab-b']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/hub weather has a charter already/);

    const shown = await b.syncer(['hub', 'show', 'weather', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(json(shown.stdout)).toMatchObject({
      hub: 'weather',
      charter: { version: 1, maintainers: ['lab-a', 'lab-b', 'lab-c'], threshold: 2, validators: [], publishers: 'open', signedBy: ['lab-a'] },
      proposal: null,
    });
  });

  it('bad input is one line and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['hub', 'create', 'rain', '--maintainer', 'lab-a', '--threshold', '3'], /--threshold must be from 1 to the number of maintainers \(1\), not 3/],
      [['hub', 'create', 'rain', '--maintainer', 'lab-b'], /you \(lab-a\) are not among the maintainers/],
      [['hub', 'create', 'rain', '--maintainer', 'lab-a', '--publishers', 'listed'], /--publishers listed needs at least one --publisher/],
      [['hub', 'create', 'Rain', '--maintainer', 'lab-a'], /hub/],
      [['hub', 'approve', 'weather'], /no proposal is waiting for hub weather/],
      [['hub', 'propose', 'rain', '--threshold', '1'], /hub rain has no charter/],
    ];
    for (const [args, message] of cases) {
      const r = await a.syncer(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(1);
    }
    expect(read(charterKey('rain', 1))).toBeUndefined();
  });

  it('a change needs 2 of the 3 current maintainers: proposed by one, in effect when a second approves', async () => {
    const p = await a.syncer([
      'hub',
      'propose',
      'weather',
      '--validator',
      'lab-v',
      '--validator',
      'lab-w',
      '--publisher',
      'lab-a',
      '--publisher',
      'lab-b',
      '--json',
    ]);
    expect(p.code, p.stderr).toBe(0);
    expect(json(p.stdout)).toMatchObject({ version: 2, inEffect: false, signedBy: ['lab-a'] });
    expect(read(charterKey('weather', 2))).toBeUndefined();
    expect(json(read('hubs/weather/proposal')!)).toMatchObject({ version: 2, validators: ['lab-v', 'lab-w'] });

    const shown = json((await c.syncer(['hub', 'show', 'weather', '--json'])).stdout);
    expect(shown.charter.version).toBe(1);
    expect(shown.proposal).toMatchObject({ version: 2, signers: ['lab-a'], needed: 2 });

    const outsider = await x.syncer(['hub', 'approve', 'weather']);
    expect(outsider.code).toBe(2);
    expect(outsider.stderr).toMatch(/lab-x is not a maintainer of hub weather/);
    const twice = await a.syncer(['hub', 'propose', 'weather', '--validator', 'lab-v']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/a proposal for version 2 of hub weather by lab-a is waiting for approvals/);
    const wrong = await c.syncer(['hub', 'approve', 'weather', '--version', '3']);
    expect(wrong.code).toBe(2);

    const ok = await c.syncer(['hub', 'approve', 'weather', '--version', '2', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({ version: 2, inEffect: true, signedBy: ['lab-a', 'lab-c'] });
    expect(read('hubs/weather/proposal')).toBeUndefined();
    expect(existsSync(join(c.repo, '.syncer/hubs/weather/charter-00000002.json'))).toBe(true);
    const now = json((await x.syncer(['hub', 'show', 'weather', '--json'])).stdout);
    expect(now.charter).toMatchObject({
      version: 2,
      validators: ['lab-v', 'lab-w'],
      validatorThreshold: 2,
      publishers: 'listed',
      publisherList: ['lab-a', 'lab-b'],
      signedBy: ['lab-a', 'lab-c'],
    });
    expect(now.proposal).toBeNull();
  });

  it('forged and under-signed versions are refused: readers keep the last version that verifies', async () => {
    const v2 = docOf(read(charterKey('weather', 2))!);
    const change = { ...v2.charter, publisherList: ['lab-a', 'lab-b', 'lab-x'] };
    const draft = draftCharter('weather', change, v2, 'lab-a', new Date());
    // Signed by one maintainer only (lab-a's own key), written straight into etcd.
    world.etcdPut(charterKey('weather', 3), JSON.stringify(signCharter(draft, 'lab-a', operatorKey(a).privateKeyPem)));
    let shown = await x.syncer(['hub', 'show', 'weather', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(json(shown.stdout).charter.version).toBe(2);
    expect(shown.stderr).toMatch(/the charter of hub weather: version 3 is signed by 1 of the 2 maintainers of version 2 it needs .*; using version 2/);
    // A signature claimed for lab-b, made by another key.
    const forged = signCharter(signCharter(draft, 'lab-a', operatorKey(a).privateKeyPem), 'lab-b', freshKey().privateKeyPem);
    world.etcdPut(charterKey('weather', 3), JSON.stringify(forged));
    shown = await x.syncer(['hub', 'show', 'weather', '--json']);
    expect(json(shown.stdout).charter.version).toBe(2);
    expect(shown.stderr).toMatch(/version 3 is signed by 1 of the 2/);

    // A forged first version of another hub: hub show is exit 5.
    const rain = signCharter(
      draftCharter('rain', { maintainers: ['lab-a'], threshold: 1, validators: [], publishers: 'open' }, undefined, 'lab-a', new Date()),
      'lab-a',
      freshKey().privateKeyPem,
    );
    world.etcdPut(charterKey('rain', 1), JSON.stringify(rain));
    const r = await b.syncer(['hub', 'show', 'rain']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/refusing the charter of hub rain: version 1 is signed by 0 of the 1/);

    // The maintainers' real version 3 replaces the refused value.
    const p = await b.syncer(['hub', 'propose', 'weather', '--description', 'daily readings']);
    expect(p.code, p.stderr).toBe(0);
    const ok = await c.syncer(['hub', 'approve', 'weather', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/replacing the refused version 3/);
    shown = await x.syncer(['hub', 'show', 'weather', '--json']);
    expect(json(shown.stdout).charter).toMatchObject({ version: 3, description: 'daily readings', publisherList: ['lab-a', 'lab-b'] });
    expect(shown.stderr).not.toMatch(/refused|signed by 1/);
  });
});

describe('who may publish', () => {
  beforeAll(async () => {
    for (const [op, date, value] of [
      [a, D1, 'a1'],
      [a, D2, 'a2'],
      [x, D2, 'x2'],
    ] as const) {
      op.write({ 'weather/t.csv': `t\n${value}\n` });
      const r = await op.syncer(['sync', '--hub', 'weather'], { at: `${date} 10:00:00` });
      expect(r.code, r.stderr).toBe(0);
    }
  }, 90_000);

  it('readers skip an unlisted publisher with a warning; retrieving its entry is exit 5', async () => {
    const ls = await c.syncer(['ls', 'weather', D2, '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(json(ls.stdout).map((e: { operator: string }) => e.operator)).toEqual(['lab-a']);
    expect(ls.stderr).toMatch(/warning: skipping weather\/2026-11-06\/lab-x: lab-x is not a listed publisher of hub weather \(charter version 3\)/);
    const r = await c.syncer(['retrieve', '--hub', 'weather', '--date', D2, '--operator', 'lab-x', '--into', join(world.root, 'x2')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/lab-x is not a listed publisher/);
    expect(existsSync(join(world.root, 'x2'))).toBe(false);
    const latest = await c.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--json', '--into', join(world.root, 'latest')]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(json(latest.stdout)).toMatchObject({ date: D2, operator: 'lab-a' });
  });

  it('watch skips it too (the same check, in the Verifier every reader shares)', async () => {
    const watcher = startWatcher(c, ['--from-start', '--hub', 'weather', '--state', join(world.root, 'watch-state.json')]);
    await watcher.waitForStderr(/skipping weather\/2026-11-06\/lab-x: lab-x is not a listed publisher of hub weather/);
    await watcher.waitForEvents(2);
    expect(await watcher.stop()).toBe(130);
    expect(watcher.events.map((e) => `${e.date}/${e.operator}`).sort()).toEqual([`${D1}/lab-a`, `${D2}/lab-a`]);
  });
});

describe('votes', () => {
  const validity = async (date: string) =>
    Object.fromEntries(
      json((await c.syncer(['ls', 'weather', date, '--json'])).stdout).map((e: { operator: string; validity: unknown }) => [e.operator, e.validity]),
    );
  const latestAccepted = (into: string) =>
    c.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--accepted', '--json', '--into', join(world.root, into)]);

  it('every entry starts pending; retrieve --accepted finds none (exit 5, saying why)', async () => {
    expect(await validity(D1)).toEqual({ 'lab-a': { state: 'pending', valid: 0, invalid: 0, threshold: 2 } });
    const r = await latestAccepted('none');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/not accepted by the validators of hub weather: pending \(0\/2 valid\)/);
    const table = await c.syncer(['ls', 'weather', D1]);
    expect(table.stdout).toMatch(/VALIDITY/);
    expect(table.stdout).toMatch(/pending \(0\/2 valid\)/);
  });

  it('votes reaching the threshold flip --accepted; a non-validator’s vote is kept but not counted', async () => {
    const one = await v.syncer(['vote', 'weather', D1, 'lab-a', '--valid', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(json(one.stdout)).toMatchObject({ voter: 'lab-v', verdict: 'valid', counted: true, validity: { state: 'pending', valid: 1, threshold: 2 } });
    const stored = json(read(`votes/weather/${D1}/lab-a/lab-v`)!);
    expect(stored).toMatchObject({ type: 'syncer-vote', voter: 'lab-v', verdict: 'valid', commit: json(read(`datasets/weather/${D1}/lab-a`)!).commit });
    expect(stored.signature).toMatch(/^ed25519:/);

    const outsider = await x.syncer(['vote', 'weather', D1, 'lab-a', '--valid', '--json']);
    expect(outsider.code, outsider.stderr).toBe(0);
    expect(outsider.stderr).toMatch(/you \(lab-x\) are not a validator of hub weather .*kept but does not count/);
    expect(json(outsider.stdout)).toMatchObject({ counted: false, validity: { state: 'pending', valid: 1 } });
    expect(read(`votes/weather/${D1}/lab-a/lab-x`)).toBeDefined();
    expect((await latestAccepted('still-none')).code).toBe(5);

    const two = await w.syncer(['vote', 'weather', D1, 'lab-a', '--valid', '--reason', 'checked the columns']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/voted valid on weather\/2026-11-05\/lab-a at [0-9a-f]{12}: accepted \(2\/2 valid\)/);
    expect(await validity(D1)).toEqual({ 'lab-a': { state: 'accepted', valid: 2, invalid: 0, threshold: 2 } });
    const got = await latestAccepted('d1');
    expect(got.code, got.stderr).toBe(0);
    expect(json(got.stdout)).toMatchObject({ date: D1, operator: 'lab-a' });

    // D2 accepted too: latest --accepted moves to it.
    for (const op of [v, w]) expect((await op.syncer(['vote', 'weather', D2, 'lab-a', '--valid'])).code).toBe(0);
    const d2 = await latestAccepted('d2');
    expect(d2.code, d2.stderr).toBe(0);
    expect(json(d2.stdout)).toMatchObject({ date: D2, operator: 'lab-a' });
  });

  it('a vote for a replaced commit does not count', async () => {
    a.write({ 'weather/t.csv': 't\na2-fixed\n' });
    const r = await a.syncer(['sync', '--hub', 'weather'], { at: `${D2} 18:00:00` });
    expect(r.code, r.stderr).toBe(0);
    expect(await validity(D2)).toEqual({ 'lab-a': { state: 'pending', valid: 0, invalid: 0, threshold: 2 } });
    const got = await latestAccepted('back-to-d1');
    expect(got.code, got.stderr).toBe(0);
    expect(json(got.stdout)).toMatchObject({ date: D1 });
    expect(got.stderr).toMatch(/skipping weather\/2026-11-06\/lab-a: not accepted/);
  });

  it('ls --accepted and mirror --accepted keep only accepted datasets; votes are committed in the voter’s repository', async () => {
    const dates = await c.syncer(['ls', 'weather', '--accepted', '--json']);
    expect(dates.code, dates.stderr).toBe(0);
    expect(json(dates.stdout).map((d: { date: string }) => d.date)).toEqual([D1]);
    const archive = join(world.root, 'archive.git');
    const m = await c.syncer(['mirror', '--to', archive, '--hub', 'weather', '--accepted', '--json']);
    expect(m.code, m.stderr).toBe(0);
    expect(json(m.stdout).changes.map((ch: { key: string }) => ch.key)).toEqual([`weather/${D1}/lab-a`]);
    const recorded = json(git(w.repo, 'show', `HEAD:.syncer/votes/weather/${D2}/lab-a.json`));
    expect(recorded).toEqual(json(read(`votes/weather/${D2}/lab-a/lab-w`)!));
  });

  it('a validator changes its vote; rejection wins; forged votes do not count', async () => {
    const r = await w.syncer(['vote', 'weather', D1, 'lab-a', '--invalid', '--reason', 'a column is empty', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout).validity).toEqual({ state: 'pending', valid: 1, invalid: 1, threshold: 2 });
    expect((await v.syncer(['vote', 'weather', D1, 'lab-a', '--invalid'])).code).toBe(0);
    expect((await validity(D1))['lab-a']).toEqual({ state: 'rejected', valid: 0, invalid: 2, threshold: 2 });
    // A valid vote in lab-v's name signed by another key.
    const forged = { ...json(read(`votes/weather/${D1}/lab-a/lab-v`)!), verdict: 'valid' };
    world.etcdPut(`votes/weather/${D1}/lab-a/lab-v`, JSON.stringify(forged));
    const ls = await c.syncer(['ls', 'weather', D1, '--json']);
    expect(json(ls.stdout)[0].validity).toEqual({ state: 'pending', valid: 0, invalid: 1, threshold: 2 });
    expect(ls.stderr).toMatch(/skipping vote weather\/2026-11-05\/lab-a\/lab-v: not signed by the key of lab-v/);
  });

  it('vote: bad input is exit 2, an entry that does not verify is exit 5', async () => {
    const cases: [string[], RegExp][] = [
      [['vote', 'weather', D1, 'lab-a'], /say --valid or --invalid/],
      [['vote', 'weather', D1, 'lab-a', '--valid', '--invalid'], /contradict/],
      [['vote', 'weather', '2026-13-01', 'lab-a', '--valid'], /date/],
      [['vote', 'weather', D1, 'lab-q', '--valid'], /no advertisement for weather\/2026-11-05 by lab-q/],
    ];
    for (const [args, message] of cases) {
      const r = await v.syncer(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const unlisted = await v.syncer(['vote', 'weather', D2, 'lab-x', '--valid']);
    expect(unlisted.code).toBe(5);
    expect(unlisted.stderr).toMatch(/refusing to vote on weather\/2026-11-06\/lab-x: lab-x is not a listed publisher/);
  });
});
