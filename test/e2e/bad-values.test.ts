/**
 * Issue 10 "Bad values", end to end (real etcd, real git, the real CLI): one schema with bounds for
 * the config file, the environment and flags; a bad value is exit 2 with one line naming the key
 * and where it came from; a config file that cannot be parsed is refused, never reset or rewritten.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator, type RunResult } from '../helpers/world.js';

let world: World;
let a: Operator;
let configFile: string;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  a = await world.operator('lab-a');
  configFile = join(a.home, '.config', 'syncer', 'config.json');
});
afterAll(() => world.cleanup());

/** Exit 2, and the first stderr line is the error naming what it must. */
function refused(r: RunResult, line: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.split('\n')[0]).toMatch(line);
}

describe('bad values (issue 10)', () => {
  it('values in the file that would overflow Node timers: exit 2 naming the key and the file', async () => {
    const file = join(world.root, 'big.json');
    writeFileSync(file, JSON.stringify({ operator: 'lab-a', gitStallTimeoutSeconds: 3_000_000 }));
    refused(
      await a.syncer(['ls', '--config', file]),
      /^error: invalid gitStallTimeoutSeconds 3000000 from config file .*big\.json: expected seconds from 1 to 86,400$/,
    );
    writeFileSync(file, JSON.stringify({ operator: 'lab-a', etcd: { timeoutMs: 1e12 } }));
    refused(
      await a.syncer(['ls', '--config', file]),
      /^error: invalid etcd.timeoutMs 1000000000000 from config file .*big\.json: expected a whole number of milliseconds from 100 to 600,000$/,
    );
  });

  it('the same bounds in the environment: exit 2 naming the key and the variable', async () => {
    refused(
      await a.syncer(['ls'], { env: { SYNCER_GIT_STALL_TIMEOUT: '3000000' } }),
      /^error: invalid gitStallTimeoutSeconds "3000000" from environment variable SYNCER_GIT_STALL_TIMEOUT: /,
    );
    refused(
      await a.syncer(['ls'], { env: { SYNCER_ETCD_TIMEOUT_MS: '1e12' } }),
      /^error: invalid etcd.timeoutMs "1e12" from environment variable SYNCER_ETCD_TIMEOUT_MS: /,
    );
    refused(
      await a.syncer(['ls'], { env: { SYNCER_ALLOWED_TRANSPORTS: 'htps' } }),
      /^error: invalid allowedTransports "htps" from environment variable SYNCER_ALLOWED_TRANSPORTS: expected any of https, http, ssh, git, file$/,
    );
  });

  it('SYNCER_WATCH_LEASE_TTL=99999999999: watch --group is refused at once (exit 2), not retried forever', async () => {
    const r = await a.syncer(['watch', '--group', 'loaders'], { env: { SYNCER_WATCH_LEASE_TTL: '99999999999' }, timeoutMs: 30_000 });
    refused(r, /^error: invalid SYNCER_WATCH_LEASE_TTL "99999999999" from the environment: expected a whole number of seconds from 2 to 3,600$/);
  });

  it('SYNCER_INPROGRESS_TTL out of bounds: sync refuses before committing or advertising anything', async () => {
    a.write({ 'weather/a.csv': 'a,1\n' });
    const head = git(a.repo, 'rev-parse', 'HEAD');
    refused(
      await a.syncer(['sync', '--hub', 'weather'], { env: { SYNCER_INPROGRESS_TTL: '86400' } }),
      /^error: invalid SYNCER_INPROGRESS_TTL "86400" from the environment: /,
    );
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(world.etcdGet('datasets/')).toEqual({});
  });

  it('config set refuses out-of-bound values before writing; a value out of bounds today can still be fixed', async () => {
    const before = readFileSync(configFile, 'utf8');
    refused(
      await a.syncer(['config', 'set', 'gitStallTimeoutSeconds', '3000000']),
      /^error: invalid value for gitStallTimeoutSeconds: expected seconds from 1 to 86,400, got 3000000 \(config not changed\)$/,
    );
    refused(
      await a.syncer(['config', 'set', 'etcd.timeoutMs', '1e12']),
      /^error: invalid value for etcd.timeoutMs: .*600,000, got 1000000000000 \(config not changed\)$/,
    );
    refused(
      await a.syncer(['config', 'set', 'allowedTransports', 'htps']),
      /^error: invalid value for allowedTransports: .*got "htps" \(config not changed\)$/,
    );
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    // A file written by an older syncer (or by hand) with a value now out of bounds: fixable in place.
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(before), gitStallTimeoutSeconds: 3_000_000 }));
    refused(await a.syncer(['config', 'list']), /gitStallTimeoutSeconds 3000000 from config file/);
    const fix = await a.syncer(['config', 'set', 'gitStallTimeoutSeconds', '600']);
    expect(fix.code, fix.stderr).toBe(0);
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toEqual({ ...JSON.parse(before), gitStallTimeoutSeconds: 600 });
    expect((await a.syncer(['config', 'unset', 'gitStallTimeoutSeconds'])).code).toBe(0);
  });

  it('a truncated config file is exit 2 naming it, and no command resets or rewrites it', async () => {
    const good = readFileSync(configFile, 'utf8');
    const truncated = good.slice(0, Math.floor(good.length / 2));
    writeFileSync(configFile, truncated);
    try {
      for (const args of [
        ['config', 'set', 'remote', 'upstream'],
        ['config', 'unset', 'remote'],
        ['config', 'list'],
        ['ls'],
        ['init', '--operator', 'lab-a', '--repo', a.repo, '--import-dir', a.importDir],
      ]) {
        refused(await a.syncer(args), new RegExp(`^error: cannot read config ${configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
        expect(readFileSync(configFile, 'utf8'), args.join(' ')).toBe(truncated);
      }
    } finally {
      writeFileSync(configFile, good);
    }
  });
});
