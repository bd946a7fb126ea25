/**
 * The schemas on valibot (issue 12: zod's import cost ~60 ms of every command): what they accept and
 * the messages users see, where valibot has no default worth showing and zod had one.
 */
import { describe, expect, it } from 'vitest';
import { validateFileConfig } from '../../src/config/check.js';
import { CONFIG_KEYS, fileConfigSchema } from '../../src/config/schema.js';
import { operatorRecordSchema, parseAdvertisement, serializeAdvertisement, type Advertisement } from '../../src/core/advertisement.js';
import { checkDefinition, DEFINITION_FIELDS, parseSourcesFile } from '../../src/sources/core/definitions.js';
import { sampleAdvertisement } from '../helpers/advertisement.js';

const FILE = '/home/u/.config/syncer/config.json';
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('not refused');
};

describe('config file', () => {
  it('names every unknown key, nested ones by their dotted path', () => {
    expect(refusal(() => validateFileConfig({ colour: 'blue', size: 1 }, FILE))).toBe(`invalid config file ${FILE}: unknown key "colour", "size"`);
    expect(refusal(() => validateFileConfig({ etcd: { tls: { ca: '/a', pin: 'x' } } }, FILE))).toBe(`invalid config file ${FILE}: unknown key "etcd.tls.pin"`);
    // A bad value is reported before an unknown key, as it was.
    expect(refusal(() => validateFileConfig({ colour: 'blue', remote: '' }, FILE))).toMatch(
      /^invalid remote "" from config file .*: expected a non-empty value$/,
    );
  });

  it('refuses a value of the wrong type with what was expected and what was found', () => {
    expect(refusal(() => validateFileConfig({ remote: 5 }, FILE))).toBe(`invalid remote 5 from config file ${FILE}: expected a string, received a number`);
    expect(refusal(() => validateFileConfig({ etcd: [] }, FILE))).toBe(`invalid config file ${FILE}: etcd: expected an object, received a list`);
    expect(refusal(() => validateFileConfig({ allowedTransports: 'http' }, FILE))).toBe(
      `invalid config file ${FILE}: allowedTransports: expected a list, received a string`,
    );
    expect(refusal(() => validateFileConfig({ etcd: { hosts: ['http://a:1', 'b'] } }, FILE))).toMatch(
      /^invalid etcd host "b" from config file .*: expected http\(s\)/,
    );
  });

  it('bounds: NaN and the infinities are refused with the bound message', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5]) {
      const r = CONFIG_KEYS['etcd.timeoutMs'].schema.safeParse(n);
      expect(r.success).toBe(false);
      if (!r.success) expect(r.error.issues[0]!.message).toBe('expected a whole number of milliseconds from 100 to 600,000');
    }
    expect(fileConfigSchema.safeParse({ lfsThresholdMiB: 1.5 }).success).toBe(true);
  });

  it('keeps the values and their order', () => {
    const config = { operator: 'lab-a', etcd: { timeoutMs: 100, hosts: ['http://[::1]:2379/'] }, allowedTransports: ['http'] };
    const r = fileConfigSchema.safeParse(config);
    expect(r.success && JSON.stringify(r.data)).toBe(
      JSON.stringify({ operator: 'lab-a', allowedTransports: ['http'], etcd: { hosts: ['http://[::1]:2379/'], timeoutMs: 100 } }),
    );
  });
});

const good: Advertisement = sampleAdvertisement;
const problem = (v: unknown) => {
  const r = parseAdvertisement(typeof v === 'string' ? v : JSON.stringify(v));
  return r.ok ? undefined : r.problem;
};

describe('advertisements', () => {
  it('name the field and what is wrong with it', () => {
    expect(problem({ ...good, extra: 1, more: 2 })).toBeUndefined(); // a later syncer's fields (issue 14)
    expect(problem({ ...good, 'no-such': 1 })).toBe('field no-such: unknown field with a name no syncer writes (camelCase, at most 64 characters)');
    expect(problem({ ...good, hub: undefined })).toBe('field hub: missing');
    expect(problem({ ...good, files: 1.5 })).toBe('field files: expected a whole number, received 1.5');
    expect(problem({ ...good, files: -1 })).toBe('field files: expected 0 or more');
    expect(problem({ ...good, bytes: 2 ** 53 })).toMatch(/^field bytes: expected a whole number up to 9,007,199,254,740,991$/);
    expect(problem({ ...good, runId: 'x'.repeat(101) })).toBe('field runId: expected at most 100 characters');
    expect(problem({ ...good, schema: 2 })).toBe('field schema: expected 1');
    expect(problem([good])).toBe('field (value): expected an object, received a list');
  });

  it('accept times with seconds and Z or an offset, nothing looser', () => {
    for (const t of ['2026-11-22T10:00:00Z', '2026-11-22T10:00:00+01:00', '2024-02-29T10:00:00.123456Z'])
      expect(problem({ ...good, syncedAt: t })).toBeUndefined();
    for (const t of ['2026-11-22T10:00Z', '2026-11-22T10:00:00', '2026-11-22 10:00:00Z', '2023-02-29T10:00:00Z', '2026-11-22T24:00:00Z']) {
      expect(problem({ ...good, syncedAt: t })).toMatch(/^field syncedAt: not a date and time/);
    }
  });

  it('serialise in schema order', () => {
    expect(Object.keys(JSON.parse(serializeAdvertisement({ signature: 's', ...good })))).toEqual([...Object.keys(good), 'signature']);
  });
});

describe('operator records', () => {
  const key = (n: number) => `ed25519:${Buffer.alloc(32, n).toString('base64')}`;
  const rotation = { from: key(7), to: key(9), at: '2026-01-01T00:00:00.000Z', signature: 's' };
  const record = { operator: 'lab-a', remote: 'https://x/y.git', publicKey: key(9), registeredAt: '2026-01-01T00:00:00.000Z', rotations: [rotation] };
  const first = (v: unknown) => {
    const r = operatorRecordSchema.safeParse(v);
    return r.success ? undefined : r.error.issues[0]!;
  };

  it('sealed entries: every key kept (but __proto__), each value 20 hex digits', () => {
    const sealed = JSON.parse(`{"__proto__":"x","constructor":"${'a'.repeat(20)}","weather/2026-01-01":"${'b'.repeat(20)}"}`);
    const r = operatorRecordSchema.safeParse({ ...record, rotations: [{ ...rotation, sealed }] });
    expect(r.success && r.data.rotations![0]!.sealed).toEqual({ constructor: 'a'.repeat(20), 'weather/2026-01-01': 'b'.repeat(20) });
    expect(first({ ...record, rotations: [{ ...rotation, sealed: { h: 'abc' } }] })).toMatchObject({
      path: ['rotations', 0, 'sealed', 'h'],
      message: 'not 20 hex digits of a commit id',
    });
    expect(first({ ...record, rotations: [{ ...rotation, sealed: [] }] })?.message).toBe('expected an object, received a list');
  });

  it('unknown keys, bounds and parse()', () => {
    expect(first({ ...record, rotations: [{ ...rotation, extra: 1 }] })).toEqual({
      code: 'unrecognized_keys',
      path: ['rotations', 0],
      keys: ['extra'],
      message: 'Unrecognized key: "extra"',
    });
    expect(first({ ...record, rotations: Array(65).fill(rotation) })?.message).toBe('expected at most 64 rotations');
    expect(operatorRecordSchema.parse(record)).toEqual(record);
    expect(() => operatorRecordSchema.parse({ ...record, operator: 'Bad' })).toThrow('operator: not a valid name');
  });
});

describe('source definitions', () => {
  it('report every problem, the whole-definition check too unless a value has the wrong type', () => {
    expect(refusal(() => checkDefinition({ type: 'csv', hub: 'crm', table: 't' }))).toBe(
      'Unrecognized key: "table"; a csv source needs exactly one of --file or --url',
    );
    expect(refusal(() => checkDefinition({ type: 'csv', hub: 'crm', timeoutMs: 0 }))).toBe(
      'timeoutMs: expected more than 0; a csv source needs exactly one of --file or --url',
    );
    expect(refusal(() => checkDefinition({ type: 'csv', hub: 'crm', timeoutMs: 1.5 }))).toBe('timeoutMs: expected a whole number, received 1.5');
    expect(refusal(() => checkDefinition({ type: 'csv', hub: 5 }))).toBe('hub: expected a string, received a number');
    expect(refusal(() => checkDefinition({ type: 'http', hub: 'crm', url: 'https://x', paging: 'cursor' }))).toBe(
      'paging: expected one of none, start, page, next',
    );
    expect(refusal(() => checkDefinition({ type: 'ldap', hub: 'crm' }))).toBe('type: expected one of csv, http, postgres');
    expect(refusal(() => checkDefinition({ hub: 'crm' }))).toBe('type: expected one of csv, http, postgres');
  });

  it('a sources file: any source name that is a valid name, Object member names included', () => {
    const file = parseSourcesFile('{"schema":1,"sources":{"constructor":{"type":"csv","hub":"h","file":"a"}}}');
    expect(Object.keys(file.sources)).toEqual(['constructor']);
    expect(refusal(() => parseSourcesFile('{"schema":1,"sources":[]}'))).toBe('sources: expected an object, received a list');
    expect(refusal(() => parseSourcesFile('{"sources":{}}'))).toBe('schema: missing');
  });

  it('DEFINITION_FIELDS: every option, its kind, choices and types, in schema order', () => {
    const fields = Object.fromEntries(DEFINITION_FIELDS.map((f) => [f.key, f]));
    expect(DEFINITION_FIELDS.map((f) => f.key).slice(0, 10)).toEqual([
      'idField',
      'updatedField',
      'into',
      'format',
      'file',
      'url',
      'delimiter',
      'quote',
      'encoding',
      'timeoutMs',
    ]);
    expect(DEFINITION_FIELDS).toHaveLength(27);
    expect(fields.timeoutMs).toEqual({ key: 'timeoutMs', kind: 'number', types: ['csv', 'http', 'postgres'] });
    expect(fields.paging).toEqual({ key: 'paging', kind: 'string', types: ['http'], choices: ['none', 'start', 'page', 'next'] });
    expect(fields.batchSize).toEqual({ key: 'batchSize', kind: 'number', types: ['http', 'postgres'] });
    expect(fields.table).toEqual({ key: 'table', kind: 'string', types: ['postgres'] });
  });
});
