/**
 * Finding data (issue 14), end to end (real etcd, real git, the real CLI): a dataset's
 * datapackage.json is validated by sync and summed up, signed, in the advertisement's `meta`;
 * describe writes a starter descriptor from CSV files; search finds datasets by what they are about.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;

const descriptor = {
  name: 'rain-gauges',
  title: 'Rain gauges of the upper valley',
  description: 'Hourly precipitation from 12 gauges.',
  keywords: ['precipitation', 'hydrology'],
  licenses: [{ name: 'CC-BY-4.0', title: 'Creative Commons Attribution 4.0' }],
  resources: [{ name: 'gauges', path: 'gauges.csv' }],
};

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  a = await world.operator('lab-a');
});
afterAll(() => world.cleanup());

const syncedDate = (stdout: string) => (JSON.parse(stdout) as { date: string }).date;

describe('metadata: datapackage.json in the signed advertisement', () => {
  it('sync with a valid descriptor puts its summary in the entry (ls --json, etcd, the tag)', async () => {
    a.write({ 'rain/gauges.csv': 'id,mm\n1,0.5\n', 'rain/datapackage.json': JSON.stringify(descriptor) });
    const r = await a.syncer(['sync', '--hub', 'rain', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const date = syncedDate(r.stdout);
    const meta = {
      title: 'Rain gauges of the upper valley',
      description: 'Hourly precipitation from 12 gauges.',
      keywords: ['precipitation', 'hydrology'],
      licenses: ['CC-BY-4.0'],
      resources: ['gauges'],
    };
    const ls = await a.syncer(['ls', 'rain', date, '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)[0].meta).toEqual(meta);
    const stored = JSON.parse(world.etcdGet(`datasets/rain/${date}/lab-a`)[`${world.namespace}datasets/rain/${date}/lab-a`]!);
    expect(stored.meta).toEqual(meta);
    expect(stored.schema).toBe(1);
    expect(JSON.parse(git(a.repo, 'tag', '-l', '--format=%(contents)', `syncer/rain/${date}`)).meta).toEqual(meta);
    const table = await a.syncer(['ls', 'rain', date]);
    expect(table.stdout).toMatch(/TITLE/);
    expect(table.stdout).toContain('Rain gauges of the upper valley');
  });

  it('an invalid descriptor is exit 2 naming the field; nothing is committed, pushed or advertised', async () => {
    const head = git(a.repo, 'rev-parse', 'HEAD');
    const before = world.etcdGet('datasets/');
    const bad = { ...descriptor, resources: [{ name: 'Gauges!', path: 'gauges.csv' }] };
    a.write({ 'rain/datapackage.json': JSON.stringify(bad), 'rain/more.csv': 'id\n2\n' });
    const r = await a.syncer(['sync', '--hub', 'rain']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rain\/datapackage\.json is not a valid Data Package: field resources\[0\]\.name: "Gauges!" does not match/);
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(a.remoteDir, 'rev-parse', 'main')).toBe(head);
    expect(world.etcdGet('datasets/')).toEqual(before);

    a.write({ 'rain/datapackage.json': JSON.stringify({ ...descriptor, resources: [] }) });
    const empty = await a.syncer(['sync', '--hub', 'rain']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/field resources: expected at least 1 item/);

    a.write({ 'rain/datapackage.json': JSON.stringify({ ...descriptor, resources: [{ name: 'gauges' }] }) });
    const neither = await a.syncer(['sync', '--hub', 'rain']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/field resources\[0\]: needs one of (data, path|path, data)/);

    a.write({ 'rain/datapackage.json': '{"resources": [' });
    const notJson = await a.syncer(['sync', '--hub', 'rain']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/rain\/datapackage\.json is not JSON/);
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(world.etcdGet('datasets/')).toEqual(before);
    a.write({ 'rain/datapackage.json': JSON.stringify(descriptor) });
  });
});

describe('describe: a starter datapackage.json', () => {
  it('infers resources and table schemas from CSV files, refuses to overwrite without --force, and sync accepts it', async () => {
    a.write({
      'obs/stations.csv':
        'id,name,lat,active,day,at,empty\n1,"Upper, north",46.5,true,2026-01-02,2026-01-02T10:00:00Z,\n2,Lower,-7,false,2026-02-28,2026-02-28T23:59:59+01:00,\n',
      'obs/extra/readings.tsv': 'station\tvalue\n1\t0.25\n',
      'obs/notes.txt': 'free text\n',
      'obs/.hidden': 'x',
    });
    const r = await a.syncer(['describe', 'obs', '--json'], { cwd: a.repo });
    expect(r.code, r.stderr).toBe(0);
    const file = join(a.repo, 'obs', 'datapackage.json');
    expect(JSON.parse(r.stdout).path).toBe(file);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.name).toBe('obs');
    const byName = Object.fromEntries(written.resources.map((x: { name: string }) => [x.name, x]));
    expect(Object.keys(byName).sort()).toEqual(['extra-readings', 'notes', 'stations']);
    expect(byName.stations.schema.fields).toEqual([
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'string' },
      { name: 'lat', type: 'number' },
      { name: 'active', type: 'boolean' },
      { name: 'day', type: 'date' },
      { name: 'at', type: 'datetime' },
      { name: 'empty', type: 'string' },
    ]);
    expect(byName.stations).toMatchObject({ path: 'stations.csv', format: 'csv', profile: 'tabular-data-resource' });
    expect(byName['extra-readings']).toMatchObject({ path: 'extra/readings.tsv', dialect: { delimiter: '\t' } });
    expect(byName['extra-readings'].schema.fields).toEqual([
      { name: 'station', type: 'integer' },
      { name: 'value', type: 'number' },
    ]);
    expect(byName.notes).toEqual({ name: 'notes', path: 'notes.txt', format: 'txt', mediatype: 'text/plain' });

    const again = await a.syncer(['describe', join(a.repo, 'obs')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/datapackage\.json exists/);
    expect(again.stderr).toMatch(/--force/);
    const forced = await a.syncer(['describe', join(a.repo, 'obs'), '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/wrote .*datapackage\.json: 3 resource\(s\), 2 with a table schema/);

    const synced = await a.syncer(['sync', '--hub', 'obs', '--json']);
    expect(synced.code, synced.stderr).toBe(0);
    const ls = await a.syncer(['ls', 'obs', syncedDate(synced.stdout), '--json']);
    expect(JSON.parse(ls.stdout)[0].meta).toEqual({ title: 'obs', resources: ['extra-readings', 'stations', 'notes'] });
  });

  it('refuses a path that is not a directory, and a directory with nothing to describe', async () => {
    const missing = await a.syncer(['describe', join(a.repo, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/is not a directory/);
    a.write({ 'empty/.keep': '' });
    const empty = await a.syncer(['describe', join(a.repo, 'empty')]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/holds no files/);
    expect(existsSync(join(a.repo, 'empty', 'datapackage.json'))).toBe(false);
  });
});
