/**
 * The cache of verified signatures (~/.cache/syncer/verified-signatures/<hub>.bin): a listing
 * verifies an entry once, later runs look it up. Only the exact bytes that verified under the
 * operator's current key match: an entry changed in the registry is refused as before, and a
 * corrupt cache file is said and ignored, never a reason to accept anything.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';
import { oneDay } from '../helpers/faketime.js';

let world: World;
let a: Operator;
let b: Operator;
const day = oneDay();
const cacheFile = (op: Operator, hub: string) => join(op.home, '.cache', 'syncer', 'verified-signatures', `${hub}.bin`);
const entryKey = () => `datasets/weather/${day.date}/lab-a`;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  a.write({ 'weather/t.csv': 't\n1\n' });
  const r = await a.syncer(['sync', '--hub', 'weather'], { at: day.at() });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => world.cleanup());

describe('verified signatures are cached per hub', () => {
  it('a listing records the signatures it verified, and the next one lists the same', async () => {
    const first = await b.syncer(['ls', 'weather', '--json'], { at: day.at() });
    expect(first.code, first.stderr).toBe(0);
    expect(statSync(cacheFile(b, 'weather')).size).toBe(16);
    expect(statSync(cacheFile(b, 'weather')).mode & 0o777).toBe(0o600);
    const second = await b.syncer(['ls', 'weather', '--json'], { at: day.at() });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
    expect(statSync(cacheFile(b, 'weather')).size).toBe(16);
  });

  it('an entry changed in the registry (same signature) does not match the cache: refused as before', async () => {
    const original = world.etcdGet(entryKey())[world.namespace + entryKey()]!;
    const forged = JSON.parse(original);
    forged.commit = 'f'.repeat(40);
    world.etcdPut(entryKey(), JSON.stringify(forged));
    try {
      const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', day.date, '--operator', 'lab-a', '--json'], { at: day.at() });
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/bad signature/);
      const listed = await b.syncer(['ls', 'weather', '--json'], { at: day.at() });
      expect(JSON.parse(listed.stdout)).toEqual([]);
    } finally {
      world.etcdPut(entryKey(), original);
    }
  });

  it('a corrupt cache file is said and ignored: entries are verified again, a torn record is dropped', async () => {
    writeFileSync(cacheFile(b, 'weather'), Buffer.alloc(23, 0xab));
    const r = await b.syncer(['ls', 'weather', '--json'], { at: day.at() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
    // The junk record stays (it matches nothing), the torn tail is ignored, the real one is added.
    const data = readFileSync(cacheFile(b, 'weather'));
    expect(data.length).toBe(23 + 16);
  });

  it('an unreadable cache directory is a warning, never a failure', async () => {
    const dir = join(b.home, '.cache', 'syncer', 'verified-signatures');
    expect(existsSync(dir)).toBe(true);
    writeFileSync(join(b.home, '.cache', 'syncer', 'blocked'), '');
    const r = await b.syncer(['ls', 'weather', '--json'], { at: day.at(), env: { XDG_CACHE_HOME: join(b.home, '.cache', 'syncer', 'blocked') } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot write the cache of verified signatures/);
  });
});
