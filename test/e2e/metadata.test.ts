/**
 * Finding data (issue 14), end to end (real etcd, real git, the real CLI): a dataset's
 * datapackage.json is validated by sync and summed up, signed, in the advertisement's `meta`;
 * describe writes a starter descriptor from CSV files; search finds datasets by what they are about.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { git, World, type Operator } from '../helpers/world.js';
import { freshKey, operatorKey, signAd } from '../helpers/forge.js';

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

  it('reindex restores the entry with its meta from the tag, and the signature still holds', async () => {
    const before = world.etcdGet('datasets/rain/');
    execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', '--prefix', `${world.namespace}datasets/rain/`], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const r = await a.syncer(['reindex', '--remote', `lab-a=${a.remoteDir}`, '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(world.etcdGet('datasets/rain/')).toEqual(before);
    const [key] = Object.keys(before);
    const ls = await a.syncer(['ls', 'rain', key!.split('/').at(-2)!, '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)[0].meta.title).toBe('Rain gauges of the upper valley');
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

describe('search', () => {
  let b: Operator;
  let date: string;
  const search = async (args: string[]) => {
    const r = await b.syncer(['search', ...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { hub: string; operator: string; title?: string; licenses?: string[] }[];
  };
  const found = (rows: { hub: string; operator: string }[]) => rows.map((r) => `${r.hub}/${r.operator}`).sort();
  const planted = (hub: string, meta: Record<string, unknown>) => ({
    schema: 1,
    hub,
    date,
    operator: 'lab-a',
    remote: a.remoteUrl,
    branch: 'main',
    commit: 'c'.repeat(40),
    tag: `syncer/${hub}/${date}`,
    path: hub,
    files: 1,
    bytes: 1,
    message: 'planted',
    syncedAt: new Date().toISOString(),
    runId: 'planted',
    meta,
  });

  beforeAll(async () => {
    b = await world.operator('lab-b');
    b.write({
      'snow/depth.csv': 'id,cm\n1,20\n',
      'snow/datapackage.json': JSON.stringify({
        name: 'snow',
        title: 'Snow depth',
        keywords: ['snow', 'hydrology'],
        licenses: [{ name: 'ODC-BY-1.0' }],
        resources: [{ name: 'depth', path: 'depth.csv' }],
      }),
    });
    const r = await b.syncer(['sync', '--hub', 'snow', '--json']);
    expect(r.code, r.stderr).toBe(0);
    date = syncedDate(r.stdout);
    // Not signed by lab-a's key: never found.
    world.etcdPut(`datasets/forged/${date}/lab-a`, JSON.stringify(signAd(planted('forged', { title: 'Forged', keywords: ['hydrology'] }), freshKey())));
    // Signed by lab-a's key, with hostile text.
    const hostile = { title: `evil\u202eexe.txt\u001b[2J\u0007${'x'.repeat(900)}`, keywords: ['hostile\u202e', 'bell\u0007'], licenses: ['CC0\u001b[31m'] };
    world.etcdPut(`datasets/hostile/${date}/lab-a`, JSON.stringify(signAd(planted('hostile', hostile), operatorKey(a))));
  });

  it('finds datasets by keyword, title, hub and resource name, each once, verified only', async () => {
    const r = await b.syncer(['search', 'hydrology', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(found(JSON.parse(r.stdout))).toEqual(['rain/lab-a', 'snow/lab-b']);
    expect(r.stderr).toMatch(/forged\/.*lab-a/); // skipped with a warning
    expect(found(await search(['precipitation']))).toEqual(['rain/lab-a']);
    expect(found(await search(['upper valley']))).toEqual(['rain/lab-a']);
    expect(found(await search(['upper snow']))).toEqual([]);
    expect(found(await search(['gauges']))).toEqual(['rain/lab-a']);
    expect(found(await search(['stations']))).toEqual(['obs/lab-a']);
    expect(found(await search(['forged']))).toEqual([]);
    const [snow] = await search(['snow']);
    expect(snow).toMatchObject({ hub: 'snow', operator: 'lab-b', date, title: 'Snow depth', licenses: ['ODC-BY-1.0'], dates: 1 });
    // A forged newer entry of a dataset that has a genuine one: the genuine one stands in.
    const tomorrow = new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const newer = { ...planted('rain', { title: 'Forged rain', keywords: ['hydrology'] }), date: tomorrow, tag: `syncer/rain/${tomorrow}` };
    world.etcdPut(`datasets/rain/${tomorrow}/lab-a`, JSON.stringify(signAd(newer, freshKey())));
    const r2 = await b.syncer(['search', 'hydrology', '--hub', 'rain', '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject([{ hub: 'rain', operator: 'lab-a', date, title: 'Rain gauges of the upper valley', dates: 2 }]);
    expect(r2.stderr).toMatch(new RegExp(`rain/${tomorrow}/lab-a`));
    execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', `${world.namespace}datasets/rain/${tomorrow}/lab-a`], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  });

  it('filters by licence, operator, hub and date', async () => {
    expect(found(await search(['hydrology', '--license', 'odc-by-1.0']))).toEqual(['snow/lab-b']);
    expect(found(await search(['hydrology', '--license', 'CC-BY-4.0']))).toEqual(['rain/lab-a']);
    expect(found(await search(['--operator', 'lab-b']))).toEqual(['snow/lab-b']);
    expect(found(await search(['hydrology', '--hub', 'rain']))).toEqual(['rain/lab-a']);
    expect(found(await search(['hydrology', '--since', date]))).toEqual(['rain/lab-a', 'snow/lab-b']);
    const next = new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    expect(await search(['hydrology', '--since', next])).toEqual([]);
    const bad = await b.syncer(['search', 'x', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
  });

  it('shows hostile metadata escaped and cut in tables (search and ls), whole only in --json', async () => {
    const table = await b.syncer(['search', 'hostile']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).not.toMatch(/[\u202e\u001b\u0007]/);
    expect(table.stdout).toContain('evil\\u202eexe.txt\\x1b[2J\\x07');
    for (const line of table.stdout.split('\n')) expect(line.length).toBeLessThan(300);
    const ls = await b.syncer(['ls', 'hostile', date]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toMatch(/[\u202e\u001b\u0007]/);
    expect(ls.stdout).toContain('evil\\u202eexe.txt');
    for (const line of ls.stdout.split('\n')) expect(line.length).toBeLessThan(400);
    const [row] = await search(['hostile']);
    expect(row!.title).toHaveLength(`evil\u202eexe.txt\u001b[2J\u0007`.length + 900);
  });

  it('refuses metadata over the read bounds (skipped, with a warning)', async () => {
    world.etcdPut(`datasets/huge/${date}/lab-a`, JSON.stringify(signAd(planted('huge', { title: 'y'.repeat(5000), keywords: ['big'] }), operatorKey(a))));
    const r = await b.syncer(['search', 'big', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect(r.stderr).toMatch(/huge\/.*meta\.title: expected at most 1,000 characters/);
  });
});
