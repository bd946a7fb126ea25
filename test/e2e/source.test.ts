/**
 * syncer source end to end: the real CLI against a real PostgreSQL (started here, in a temporary
 * directory), a real HTTP API (a Node server started here) and CSV files, committing into real
 * git repositories. Every failure case checks that nothing was committed and the cursor stayed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, run, World, type Operator, type RunResult } from '../helpers/world.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { FakeApi } from '../helpers/http-server.js';

let world: World;
let a: Operator;
let pg: Postgres;
let api: FakeApi;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, pg, api] = await Promise.all([
    world.operator('lab-a'),
    startPostgres(),
    (async () => {
      const s = new FakeApi();
      await s.start();
      return s;
    })(),
  ]);
  pg.createDatabase('water');
}, 120_000);
afterAll(async () => {
  await api?.close();
  pg?.stop();
  world?.cleanup();
});

const json = (s: string) => JSON.parse(s);
const head = (op: Operator) => git(op.repo, 'rev-parse', 'HEAD');
const subject = (op: Operator) => git(op.repo, 'log', '-1', '--format=%s');
const lines = (op: Operator, rel: string) =>
  readFileSync(join(op.repo, rel), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const state = (op: Operator, name: string) => json(readFileSync(join(op.repo, '.syncer/state', `${name}.json`), 'utf8'));
const env = (extra: Record<string, string> = {}) => ({ env: { SYNCER_HTTP_BACKOFF_MS: '20', PGPASS_TEST: pg.password, ...extra } });
const sx = (args: string[], extra: Record<string, string> = {}) => a.syncer(args, env(extra));
const ok = (r: RunResult) => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
/** No temporary file left beside the data, and a clean tree for our paths. */
const noLeftovers = (dir: string) => expect(existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('syncer-tmp')) : []).toEqual([]);

describe('definitions', () => {
  it('adds, lists and removes sources, committing .syncer/sources.json', async () => {
    const r = ok(
      await sx(['source', 'add', 'scratch', '--hub', 'water', '--type', 'http', '--url', `${api.base}/start/records`, '--paging', 'start', '--json']),
    );
    expect(json(r.stdout)).toMatchObject({ source: 'scratch', hub: 'water', type: 'http', file: 'water/scratch.ndjson' });
    expect(subject(a)).toBe('source add scratch');
    const file = json(readFileSync(join(a.repo, '.syncer/sources.json'), 'utf8'));
    expect(file).toEqual({ schema: 1, sources: { scratch: { type: 'http', hub: 'water', paging: 'start', url: `${api.base}/start/records` } } });
    const l = ok(await sx(['source', 'list', '--json']));
    expect(json(l.stdout)).toEqual([expect.objectContaining({ source: 'scratch', type: 'http', file: 'water/scratch.ndjson', cursor: null })]);
    const dup = await sx(['source', 'add', 'scratch', '--hub', 'water', '--type', 'http', '--url', `${api.base}/x`]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/already exists/);
    ok(await sx(['source', 'remove', 'scratch']));
    expect(subject(a)).toBe('source remove scratch');
    expect(json(ok(await sx(['source', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('refuses secrets, bad names and options of another type (exit 2, nothing written)', async () => {
    const before = head(a);
    const cases: [string[], RegExp][] = [
      [['source', 'add', 'db', '--hub', 'water', '--type', 'postgres', '--url', 'postgres://u:hunter2@127.0.0.1/db', '--table', 't'], /embeds a password/],
      [['source', 'add', 'api', '--hub', 'water', '--type', 'http', '--url', 'https://api.example.org/x?api_key=abc123'], /secret in its query/],
      [['source', 'add', 'api', '--hub', 'water', '--type', 'http', '--url', 'https://tok3n@api.example.org/x'], /credentials/],
      [['source', 'add', 'Bad', '--hub', 'water', '--type', 'csv', '--file', 'x.csv'], /invalid source/],
      [['source', 'add', 'c', '--hub', 'water', '--type', 'csv', '--file', 'x.csv', '--table', 't'], /Unrecognized key/],
      [['source', 'add', 'c', '--hub', 'water', '--type', 'postgres', '--url', 'postgres://u@h/db'], /exactly one of --table or --query/],
      [['source', 'add', 'c', '--hub', 'water'], /missing --type/],
    ];
    for (const [args, re] of cases) {
      const r = await sx(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/hunter2|abc123|tok3n/);
    }
    expect(head(a)).toBe(before);
  });
});

describe('csv source', () => {
  const csv = () => join(world.root, 'people.csv');
  const rows = (...r: string[]) => writeFileSync(csv(), `\ufeffid;name;note;updated\n${r.join('\n')}\n`);

  it('pulls a CSV (BOM, ; delimiter, quoting) and reports malformed rows by line', async () => {
    rows(
      '1;Ann;"says ""hi""; twice";2026-01-01T10:00:00Z',
      '2;Bob;;2026-01-02T10:00:00Z',
      '3;Cy;too;many;fields',
      ';NoId;x;2026-01-01T00:00:00Z',
      '4;Dee;x;yesterday',
      '5;"Eve\nmultiline";x;2026-01-03T10:00:00Z',
    );
    ok(await sx(['source', 'add', 'people', '--hub', 'crm', '--type', 'csv', '--file', csv(), '--delimiter', ';', '--updated-field', 'updated']));
    const r = ok(await sx(['source', 'pull', 'people', '--json']));
    const out = json(r.stdout);
    expect(out).toMatchObject({
      source: 'people',
      file: 'crm/people.ndjson',
      committed: true,
      fetched: 6,
      added: 3,
      updated: 0,
      unchanged: 0,
      skipped: 3,
      errors: [],
    });
    expect(out.warnings['malformed-row']).toMatchObject({ count: 1, samples: [{ line: 4 }] });
    expect(out.warnings['missing-id']).toMatchObject({ count: 1, samples: [{ line: 5 }] });
    expect(out.warnings['unparseable-date']).toMatchObject({ count: 1, samples: [{ line: 6, id: '4' }] });
    expect(out.cursor).toEqual({ value: '2026-01-03T10:00:00Z', key: Date.parse('2026-01-03T10:00:00Z') });
    expect(r.stderr).toMatch(/malformed-row: 1 \(line 4\)/);
    expect(subject(a)).toMatch(/^pull people \d{4}-\d{2}-\d{2}$/);
    // Data and cursor in one commit, nothing else.
    expect(git(a.repo, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort()).toEqual(['.syncer/state/people.json', 'crm/people.ndjson']);
    expect(lines(a, 'crm/people.ndjson')).toEqual([
      { id: '1', name: 'Ann', note: 'says "hi"; twice', updated: '2026-01-01T10:00:00Z', externalIds: { people: '1' } },
      { id: '2', name: 'Bob', note: '', updated: '2026-01-02T10:00:00Z', externalIds: { people: '2' } },
      { id: '5', name: 'Eve\nmultiline', note: 'x', updated: '2026-01-03T10:00:00Z', externalIds: { people: '5' } },
    ]);
    expect(state(a, 'people')).toEqual({ pull: { cursor: out.cursor } });
  });

  it('a rerun with nothing new makes no commit', async () => {
    const before = head(a);
    const out = json(ok(await sx(['source', 'pull', 'people', '--json'])).stdout);
    expect(out).toMatchObject({ committed: false, added: 0, updated: 0 });
    expect(head(a)).toBe(before);
  });

  it('picks up only new and changed records, including those at the cursor timestamp', async () => {
    rows(
      '1;Ann;"says ""hi""; twice";2026-01-01T10:00:00Z',
      '2;Bob;;2026-01-02T10:00:00Z',
      '5;"Eve\nmultiline";x;2026-01-03T10:00:00Z',
      '6;Fay;same second as the cursor;2026-01-03T10:00:00Z',
      '2;Bob;changed;2026-01-04T09:00:00Z',
      '7;Gus;new;2026-01-04T09:00:00Z',
    );
    const before = head(a);
    const out = json(ok(await sx(['source', 'pull', 'people', '--json'])).stdout);
    // 1 and the old 2 are before the cursor; 5 is at it and unchanged; 6 is at it and new.
    expect(out).toMatchObject({ committed: true, added: 2, updated: 1, unchanged: 3, cursor: { value: '2026-01-04T09:00:00Z' } });
    const diff = git(a.repo, 'diff', '--numstat', before, 'HEAD', '--', 'crm/people.ndjson');
    expect(diff).toBe('3\t1\tcrm/people.ndjson'); // minimal: one line changed, two added
    expect(lines(a, 'crm/people.ndjson').map((r) => r.id)).toEqual(['1', '2', '5', '6', '7']);
  });

  it('--full fetches everything again; --dry-run writes nothing', async () => {
    const before = head(a);
    const full = json(ok(await sx(['source', 'pull', 'people', '--full', '--json'])).stdout);
    expect(full).toMatchObject({ fetched: 6, added: 0, updated: 0, unchanged: 5, committed: false });
    rows('8;Hal;dry;2026-02-01T00:00:00Z');
    const dry = json(ok(await sx(['source', 'pull', 'people', '--dry-run', '--json'])).stdout);
    expect(dry).toMatchObject({ dryRun: true, committed: false, added: 1, cursor: { value: '2026-02-01T00:00:00Z' } });
    expect(head(a)).toBe(before);
    expect(git(a.repo, 'status', '--porcelain')).toBe('');
    expect(state(a, 'people').pull.cursor.value).toBe('2026-01-04T09:00:00Z');
  });

  it('refuses to overwrite uncommitted edits of the data file', async () => {
    const file = join(a.repo, 'crm/people.ndjson');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, `${text}{"id":"99","name":"by hand"}\n`);
    const r = await sx(['source', 'pull', 'people']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/uncommitted changes in crm\/people.ndjson/);
    writeFileSync(file, text);
  });

  it('stores the hub file as CSV when asked, and round-trips without changes', async () => {
    rows('1;Ann;x;2026-01-01T00:00:00Z', '2;Bob;y;2026-01-02T00:00:00Z');
    ok(await sx(['source', 'add', 'people-csv', '--hub', 'crm', '--type', 'csv', '--file', csv(), '--delimiter', 'semicolon', '--format', 'csv']));
    ok(await sx(['source', 'pull', 'people-csv']));
    expect(readFileSync(join(a.repo, 'crm/people-csv.csv'), 'utf8')).toBe(
      'id,name,note,updated,externalIds.people-csv\n1,Ann,x,2026-01-01T00:00:00Z,1\n2,Bob,y,2026-01-02T00:00:00Z,2\n',
    );
    const before = head(a);
    expect(json(ok(await sx(['source', 'pull', 'people-csv', '--json'])).stdout)).toMatchObject({ committed: false, unchanged: 2 });
    expect(head(a)).toBe(before);
  });
});

describe('http source', () => {
  const rec = (id: number, day: number, extra: Record<string, unknown> = {}) => ({
    id,
    name: `well ${id}`,
    depth: id * 1.5,
    updated_at: `2026-03-${String(day).padStart(2, '0')}T00:00:00.000Z`,
    ...extra,
  });

  it('pages with start/limit through a 429 (Retry-After) and a 500, then pulls incrementally with the cursor as a parameter', async () => {
    api.records = [];
    api.put(...Array.from({ length: 23 }, (_, i) => rec(i + 1, 1 + (i % 5))));
    ok(
      await sx([
        'source',
        'add',
        'wells',
        '--hub',
        'water',
        '--type',
        'http',
        '--url',
        `${api.base}/start/records`,
        '--paging',
        'start',
        '--page-size',
        '5',
        '--records-path',
        'data.items',
        '--updated-field',
        'updated_at',
        '--since-param',
        'updatedSince',
        '--retries',
        '3',
      ]),
    );
    api.resetLog();
    api.faults = { tooManyAt: 2, errorAt: 4 };
    const started = Date.now();
    const out = json(ok(await sx(['source', 'pull', 'wells', '--json'])).stdout);
    expect(out).toMatchObject({ fetched: 23, added: 23, committed: true, cursor: { value: '2026-03-05T00:00:00.000Z' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // waited as Retry-After said
    const starts = api.requests.map((r) => new URL(r.url, api.base).searchParams.get('start'));
    expect(starts).toEqual(['0', '5', '5', '10', '10', '15', '20']); // the 429 and the 500 were retried
    expect(lines(a, 'water/wells.ndjson').map((r) => r.id)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));

    api.resetLog();
    api.put(rec(3, 9, { name: 'deeper' }), rec(30, 5));
    const inc = json(ok(await sx(['source', 'pull', 'wells', '--json'])).stdout);
    // Everything at or after the cursor (2026-03-05) comes again: 4 old at the cursor, 1 changed, 1 new.
    expect(inc).toMatchObject({ fetched: 6, added: 1, updated: 1, unchanged: 4, cursor: { value: '2026-03-09T00:00:00.000Z' } });
    expect(new URL(api.requests[0]!.url, api.base).searchParams.get('updatedSince')).toBe('2026-03-05T00:00:00.000Z');
  });

  it('follows next links, and page/limit paging', async () => {
    ok(
      await sx([
        'source',
        'add',
        'wells-next',
        '--hub',
        'water',
        '--type',
        'http',
        '--url',
        `${api.base}/next/records?limit=4`,
        '--paging',
        'next',
        '--next-path',
        'links.next',
      ]),
    );
    const n = json(ok(await sx(['source', 'pull', 'wells-next', '--json'])).stdout);
    expect(n).toMatchObject({ fetched: 24, added: 24 });
    ok(
      await sx([
        'source',
        'add',
        'wells-page',
        '--hub',
        'water',
        '--type',
        'http',
        '--url',
        `${api.base}/page/records`,
        '--paging',
        'page',
        '--page-size',
        '10',
      ]),
    );
    expect(json(ok(await sx(['source', 'pull', 'wells-page', '--json'])).stdout)).toMatchObject({ fetched: 24, added: 24 });
    api.faults = { ignorePaging: true };
    const loop = await sx(['source', 'pull', 'wells-page', '--full']);
    api.faults = {};
    expect(loop.code).toBe(4);
    expect(loop.stderr).toMatch(/same page twice/);
  });

  it('an API that dies mid-run: exit 4, nothing committed, cursor unchanged, no temporary files', async () => {
    const before = head(a);
    const cursor = state(a, 'wells').pull.cursor;
    api.put(rec(40, 20), rec(41, 20));
    api.resetLog();
    api.faults = { dieAt: 2 };
    const r = await sx(['source', 'pull', 'wells', '--full']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/failed after 4 attempt\(s\): connection (refused|lost)/);
    expect(head(a)).toBe(before);
    expect(state(a, 'wells').pull.cursor).toEqual(cursor);
    expect(git(a.repo, 'status', '--porcelain')).toBe('');
    noLeftovers(join(a.repo, 'water'));
    await api.restart();
  });

  it('reads a CSV over HTTP (BOM, CRLF, quoting)', async () => {
    ok(await sx(['source', 'add', 'wells-csv', '--hub', 'water', '--type', 'csv', '--url', `${api.base}/csv`]));
    const out = json(ok(await sx(['source', 'pull', 'wells-csv', '--json'])).stdout);
    expect(out).toMatchObject({ fetched: api.records.length, added: api.records.length, skipped: 0 });
    expect(lines(a, 'water/wells-csv.ndjson')[2]).toEqual({ id: '3', depth: '4.5', name: 'deeper', externalIds: { 'wells-csv': '3' } });
  });

  it('a response that is cut or not JSON fails the run (exit 4), nothing committed', async () => {
    ok(await sx(['source', 'add', 'broken', '--hub', 'water', '--type', 'http', '--url', `${api.base}/broken`, '--retries', '1']));
    const before = head(a);
    const r = await sx(['source', 'pull', 'broken']);
    expect(r.code).toBe(4);
    expect(head(a)).toBe(before);
    expect(existsSync(join(a.repo, 'water/broken.ndjson'))).toBe(false);
  });
});

describe('postgres source', () => {
  beforeAll(() => {
    pg.psql(
      `CREATE TABLE readings (id serial PRIMARY KEY, well text NOT NULL, value double precision, updated_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO readings (well, value, updated_at) SELECT 'w' || g, g * 0.5, timestamptz '2026-04-01 00:00:00+00' + (g % 10) * interval '1 hour' + interval '123456 microseconds' FROM generate_series(1, 500) g;
      CREATE FUNCTION slow(i int) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT pg_sleep(0.005); SELECT i $$;`,
      'water',
    );
  });
  const url = () => pg.url('water');

  it('pulls a table with the password from the named variable, then incrementally with the cursor as a query parameter', async () => {
    ok(
      await sx([
        'source',
        'add',
        'readings',
        '--hub',
        'water',
        '--type',
        'postgres',
        '--url',
        url(),
        '--password-env',
        'PGPASS_TEST',
        '--table',
        'readings',
        '--updated-field',
        'updated_at',
      ]),
    );
    expect(readFileSync(join(a.repo, '.syncer/sources.json'), 'utf8')).not.toContain(pg.password);
    const out = json(ok(await sx(['source', 'pull', 'readings', '--json'])).stdout);
    expect(out).toMatchObject({ fetched: 500, added: 500, committed: true, cursor: { value: '2026-04-01 09:00:00.123456+00' } });
    const first = lines(a, 'water/readings.ndjson')[0];
    expect(first).toEqual({ id: 1, updated_at: '2026-04-01 01:00:00.123456+00', value: 0.5, well: 'w1', externalIds: { readings: 1 } });

    pg.psql(
      `UPDATE readings SET value = -1, updated_at = '2026-04-02 00:00:00+00' WHERE id = 7; INSERT INTO readings (id, well, value, updated_at) VALUES ` +
        `(1000, 'new', 1, '2026-04-01 09:00:00.123456+00')`,
      'water',
    );
    const inc = json(ok(await sx(['source', 'pull', 'readings', '--json'])).stdout);
    // At the cursor: the 50 rows of hour 9 (unchanged) and the new row with the same timestamp.
    expect(inc).toMatchObject({ fetched: 52, added: 1, updated: 1, unchanged: 50, cursor: { value: '2026-04-02 00:00:00+00' } });
    expect(pg.log()).toMatch(/WHERE "updated_at" >= \$1[\s\S]*parameters: \$1 = '2026-04-01 09:00:00.123456\+00'/);
    const again = json(ok(await sx(['source', 'pull', 'readings', '--json'])).stdout);
    expect(again).toMatchObject({ committed: false, fetched: 1, unchanged: 1 });
  });

  it('a query source; a missing password variable is exit 2; a database that is down is exit 4', async () => {
    ok(
      await sx([
        'source',
        'add',
        'deep',
        '--hub',
        'water',
        '--type',
        'postgres',
        '--url',
        url(),
        '--password-env',
        'PGPASS_TEST',
        '--query',
        'SELECT id, well FROM readings WHERE value > 240',
      ]),
    );
    expect(json(ok(await sx(['source', 'pull', 'deep', '--json'])).stdout)).toMatchObject({ fetched: 20, added: 20 });
    const noEnv = await a.syncer(['source', 'pull', 'deep']);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toMatch(/PGPASS_TEST is not set/);
    ok(
      await sx([
        'source',
        'add',
        'down',
        '--hub',
        'water',
        '--type',
        'postgres',
        '--url',
        'postgres://syncer@127.0.0.1:1/water',
        '--password-env',
        'PGPASS_TEST',
        '--table',
        'readings',
        '--timeout-ms',
        '3000',
      ]),
    );
    const down = await sx(['source', 'pull', 'down']);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/unreachable \(ECONNREFUSED\)/);
    const badTable = await sx([
      'source',
      'add',
      'nope',
      '--hub',
      'water',
      '--type',
      'postgres',
      '--url',
      url(),
      '--password-env',
      'PGPASS_TEST',
      '--table',
      'no_such_table',
    ]).then(() => sx(['source', 'pull', 'nope']));
    expect(badTable.code).toBe(2);
    expect(badTable.stderr).toMatch(/no_such_table/);
  });

  it('the database goes away mid-run: exit 4, nothing committed, cursor unchanged', async () => {
    ok(
      await sx([
        'source',
        'add',
        'slow',
        '--hub',
        'water',
        '--type',
        'postgres',
        '--url',
        url(),
        '--password-env',
        'PGPASS_TEST',
        '--query',
        'SELECT * FROM readings WHERE slow(id) = id',
        '--updated-field',
        'updated_at',
      ]),
    );
    ok(await sx(['source', 'pull', 'slow'], { SYNCER_SOURCE_CHUNK: '100' }));
    const before = head(a);
    const cursor = state(a, 'slow').pull.cursor;
    pg.psql(`UPDATE readings SET updated_at = '2026-05-01 00:00:00+00'`, 'water');
    const run = sx(['source', 'pull', 'slow']);
    // Wait until syncer is reading, then cut its connection.
    let killed = '0';
    for (let i = 0; i < 100 && killed === '0'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      killed = pg.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'syncer source slow' AND state = 'active'`);
    }
    expect(killed).toBe('1');
    const r = await run;
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/source slow: reading the query/);
    expect(head(a)).toBe(before);
    expect(state(a, 'slow').pull.cursor).toEqual(cursor);
    expect(git(a.repo, 'status', '--porcelain')).toBe('');
    noLeftovers(join(a.repo, 'water'));
  });
});

describe('push', () => {
  beforeAll(() => {
    pg.psql(`CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, note text, updated text)`, 'water');
  });

  it('pushes to PostgreSQL, writes the assigned ids back, and does not send them again', async () => {
    // `crm` shares the file of the csv source `people` (see the csv tests): 5 records.
    ok(
      await sx([
        'source',
        'add',
        'crm',
        '--hub',
        'crm',
        '--type',
        'postgres',
        '--url',
        pg.url('water'),
        '--password-env',
        'PGPASS_TEST',
        '--table',
        'people',
        '--into',
        'people',
        '--batch-size',
        '4',
      ]),
    );
    const dry = json(ok(await sx(['source', 'push', 'crm', '--dry-run', '--json'])).stdout);
    expect(dry).toMatchObject({ dryRun: true, pushed: 5, committed: false });
    expect(pg.psql('SELECT count(*) FROM people', 'water')).toBe('0');
    const out = json(ok(await sx(['source', 'push', 'crm', '--json'])).stdout);
    expect(out).toMatchObject({ pushed: 5, added: 5, updated: 0, committed: true });
    expect(subject(a)).toMatch(/^push crm /);
    const recs = lines(a, 'crm/people.ndjson');
    expect(recs.map((r) => r.externalIds.crm)).toEqual([1, 2, 3, 4, 5]);
    expect(pg.psql(`SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM people`, 'water')).toBe('1=Ann,2=Bob,3=Eve\nmultiline,4=Fay,5=Gus');
    expect(state(a, 'crm').push.commit).toMatch(/^[0-9a-f]{40}$/);
    // Again: nothing changed since (the write-back only touched externalIds).
    const before = head(a);
    expect(json(ok(await sx(['source', 'push', 'crm', '--json'])).stdout)).toMatchObject({ pushed: 0, committed: false });
    expect(head(a)).toBe(before);
    expect(pg.psql('SELECT count(*) FROM people', 'water')).toBe('5');
  });

  it('sends a record changed by a pull as an update to its known id', async () => {
    writeFileSync(join(world.root, 'people.csv'), 'id;name;note;updated\n2;Bob;renamed;2026-06-01T00:00:00Z\n');
    expect(json(ok(await sx(['source', 'pull', 'people', '--json'])).stdout)).toMatchObject({ updated: 1 });
    const out = json(ok(await sx(['source', 'push', 'crm', '--json'])).stdout);
    expect(out).toMatchObject({ pushed: 1, added: 0, updated: 1 });
    expect(pg.psql(`SELECT note FROM people WHERE id = 2`, 'water')).toBe('renamed');
    expect(pg.psql('SELECT count(*) FROM people', 'water')).toBe('5');
  });

  it('pushes to an HTTP API in batches; a refused batch is reported and the cursor stays', async () => {
    ok(
      await sx([
        'source',
        'add',
        'crm-api',
        '--hub',
        'crm',
        '--type',
        'http',
        '--url',
        `${api.base}/start/records`,
        '--into',
        'people',
        '--batch-size',
        '4',
        '--push-ids-path',
        'created',
      ]),
    );
    api.resetLog();
    api.faults = { postStatus: 422 };
    const refused = await sx(['source', 'push', 'crm-api', '--json']);
    expect(refused.code).toBe(0);
    expect(json(refused.stdout)).toMatchObject({ pushed: 0, skipped: 5, committed: false, warnings: { rejected: { count: 5 } } });
    api.faults = {};
    const out = json(ok(await sx(['source', 'push', 'crm-api', '--json'])).stdout);
    expect(out).toMatchObject({ pushed: 5, added: 5, committed: true });
    expect(api.posts.map((b) => b.length)).toEqual([4, 1]);
    expect(api.posts[0]![0]).toEqual({ name: 'Ann', note: 'says "hi"; twice', updated: '2026-01-01T10:00:00Z' }); // no hub id, no externalIds
    expect(lines(a, 'crm/people.ndjson').every((r) => typeof r.externalIds['crm-api'] === 'number')).toBe(true);
    expect(json(ok(await sx(['source', 'push', 'crm-api', '--json'])).stdout)).toMatchObject({ pushed: 0 });
  });
});

describe('push failures', () => {
  it('a destination that dies mid-push: accepted ids are committed, the cursor stays, the rerun completes without duplicates', async () => {
    ok(
      await sx([
        'source',
        'add',
        'crm-api2',
        '--hub',
        'crm',
        '--type',
        'http',
        '--url',
        `${api.base}/start/records`,
        '--into',
        'people',
        '--batch-size',
        '2',
        '--push-ids-path',
        'created',
        '--retries',
        '2',
      ]),
    );
    const count = api.records.length;
    api.resetLog();
    api.faults = { postDieAt: 2 };
    const r = await sx(['source', 'push', 'crm-api2']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/ids of the 2 record\(s\) already accepted are committed; the push cursor did not move/);
    expect(subject(a)).toMatch(/^push crm-api2 /);
    expect(lines(a, 'crm/people.ndjson').filter((x) => x.externalIds['crm-api2'] !== undefined)).toHaveLength(2);
    expect(state(a, 'crm-api2').push).toBeUndefined();
    expect(git(a.repo, 'status', '--porcelain')).toBe('');
    expect(api.records.length).toBe(count + 2);
    await api.restart();
    api.resetLog();
    const again = json(ok(await sx(['source', 'push', 'crm-api2', '--json'])).stdout);
    expect(again).toMatchObject({ pushed: 5, added: 3, updated: 2 });
    expect(api.records.length).toBe(count + 5); // the two accepted ones were updated, not created again
    expect(state(a, 'crm-api2').push.commit).toMatch(/^[0-9a-f]{40}$/);
  });
});

describe('two-way between an HTTP API and PostgreSQL', () => {
  beforeAll(() => {
    pg.psql(`CREATE TABLE sites (id serial PRIMARY KEY, name text, depth double precision)`, 'water');
    pg.psql(`INSERT INTO sites (name, depth) VALUES ('pg-only', 7.5)`, 'water');
  });

  it('syncs both ways without echo or duplicates', async () => {
    api.records = [];
    api.nextId = 1000;
    api.put({ id: 1, name: 'api-one', depth: 1 }, { id: 2, name: 'api-two', depth: 2 });
    // `legacy` owns sites/legacy.ndjson; `ow` (PostgreSQL) shares it.
    ok(
      await sx([
        'source',
        'add',
        'legacy',
        '--hub',
        'sites',
        '--type',
        'http',
        '--url',
        `${api.base}/next/records`,
        '--paging',
        'next',
        '--next-path',
        'links.next',
        '--push-ids-path',
        'created',
      ]),
    );
    ok(
      await sx([
        'source',
        'add',
        'ow',
        '--hub',
        'sites',
        '--type',
        'postgres',
        '--url',
        pg.url('water'),
        '--password-env',
        'PGPASS_TEST',
        '--table',
        'sites',
        '--into',
        'legacy',
      ]),
    );
    ok(await sx(['source', 'pull', 'legacy']));
    ok(await sx(['source', 'pull', 'ow']));
    const file = 'sites/legacy.ndjson';
    expect(lines(a, file).map((r) => r.id)).toEqual([1, 2, 'ow:1']);

    // Each side gets what the other has, not its own records back.
    expect(json(ok(await sx(['source', 'push', 'ow', '--json'])).stdout)).toMatchObject({ pushed: 2, added: 2 });
    api.resetLog();
    expect(json(ok(await sx(['source', 'push', 'legacy', '--json'])).stdout)).toMatchObject({ pushed: 1, added: 1 });
    expect(api.posts).toEqual([[{ name: 'pg-only', depth: 7.5 }]]);
    expect(pg.psql(`SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM sites`, 'water')).toBe('1=pg-only,2=api-one,3=api-two');
    expect(api.records.map((r) => r.name)).toEqual(['api-one', 'api-two', 'pg-only']);

    // The copies come back from each side: matched through externalIds, nothing added or changed.
    const before = head(a);
    expect(json(ok(await sx(['source', 'pull', 'ow', '--json'])).stdout)).toMatchObject({ fetched: 3, added: 0, updated: 0, unchanged: 3, committed: false });
    expect(json(ok(await sx(['source', 'pull', 'legacy', '--json'])).stdout)).toMatchObject({
      fetched: 3,
      added: 0,
      updated: 0,
      unchanged: 3,
      committed: false,
    });
    expect(head(a)).toBe(before);
    const recs = lines(a, file);
    expect(recs).toHaveLength(3);
    expect(recs.map((r) => r.externalIds)).toEqual([
      { legacy: 1, ow: 2 },
      { legacy: 2, ow: 3 },
      { legacy: 1000, ow: 1 },
    ]);
    expect(json(ok(await sx(['source', 'push', 'ow', '--json'])).stdout)).toMatchObject({ pushed: 0 });
    expect(json(ok(await sx(['source', 'push', 'legacy', '--json'])).stdout)).toMatchObject({ pushed: 0 });

    // A change on one side reaches the other, once, and is not echoed back.
    api.put({ id: 2, name: 'api-two', depth: 20 });
    expect(json(ok(await sx(['source', 'pull', 'legacy', '--json'])).stdout)).toMatchObject({ updated: 1 });
    api.resetLog();
    expect(json(ok(await sx(['source', 'push', 'legacy', '--json'])).stdout)).toMatchObject({ pushed: 0 });
    expect(api.posts).toEqual([]);
    expect(json(ok(await sx(['source', 'push', 'ow', '--json'])).stdout)).toMatchObject({ pushed: 1, updated: 1, added: 0 });
    expect(pg.psql(`SELECT depth FROM sites WHERE id = 3`, 'water')).toBe('20');
    expect(json(ok(await sx(['source', 'pull', 'ow', '--json'])).stdout)).toMatchObject({ unchanged: 3, committed: false });
    expect(pg.psql('SELECT count(*) FROM sites', 'water')).toBe('3');
    expect(api.records).toHaveLength(3);
  });
});

describe('publishing and scale', () => {
  it('--sync publishes the hub after the pull', async () => {
    const r = ok(await sx(['source', 'pull', 'legacy', '--full', '--sync', '--json']));
    const out = json(r.stdout);
    expect(out.sync).toMatchObject({ hub: 'sites', operator: 'lab-a', advertised: 'created' });
    // One advertisement of sites by lab-a, on the date the sync took from the clock (the run may cross midnight).
    expect(Object.keys(world.etcdGet('datasets/sites/')).filter((k) => k.endsWith('/lab-a'))).toHaveLength(1);
    expect(git(a.remoteDir, 'rev-parse', 'main')).toBe(head(a));
  });

  it('pulls 200,000 CSV rows through the external sort in bounded memory (a 48 MB heap)', async () => {
    const big = join(world.root, 'big.csv');
    const parts = ['id,name,value,updated\n'];
    for (let i = 200_000; i >= 1; i--) parts.push(`${i},name ${i},${i % 97},2026-07-01T00:00:00Z\n`); // reverse order: the sort has work to do
    writeFileSync(big, parts.join(''));
    ok(await sx(['source', 'add', 'big', '--hub', 'scale', '--type', 'csv', '--file', big, '--updated-field', 'updated']));
    const r = await runWithRss(['source', 'pull', 'big', '--json'], { ...a.env, SYNCER_SOURCE_CHUNK: '20000' });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ fetched: 200_000, added: 200_000, committed: true });
    const text = readFileSync(join(a.repo, 'scale/big.ndjson'), 'utf8');
    expect(text.slice(0, text.indexOf('\n'))).toBe('{"id":"1","name":"name 1","updated":"2026-07-01T00:00:00Z","value":"1","externalIds":{"big":"1"}}');
    expect(text.split('\n').length).toBe(200_001);
    // The process ran with a 48 MB JavaScript heap: holding 200k records at once needs more than
    // 64 MB (measured), the spool holds 20k at a time. Peak RSS is only reported (GC makes it noisy).
    expect(r.maxRssMb).toBeGreaterThan(0);
    console.info(`200k-row CSV pull: ${r.ms} ms, peak RSS ${r.maxRssMb.toFixed(0)} MB`);
  }, 120_000);
});

/** Run the CLI with a 48 MB heap and a hook that reports the process's peak RSS (MB) when it exits. */
function runWithRss(args: string[], extra: Record<string, string | undefined>): Promise<RunResult & { maxRssMb: number }> {
  const hook = `data:text/javascript,${encodeURIComponent("process.on('exit', () => process.stderr.write('\\nmaxrss-kb ' + process.resourceUsage().maxRSS + '\\n'))")}`;
  return run(args, { env: extra, nodeArgs: ['--max-old-space-size=48', '--import', hook], timeoutMs: 600_000 }).then((r) => ({
    ...r,
    maxRssMb: Number(/maxrss-kb (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024,
  }));
}
