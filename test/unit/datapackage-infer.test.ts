/** describe's decisions (issue 14): column types from sampled values, resource names, the starter descriptor. */
import { describe, expect, it } from 'vitest';
import { fieldNames, resourceName, starterDescriptor, TypeInference } from '../../src/core/datapackage-infer.js';
import { descriptorProblem } from '../../src/commands/sync/metadata.js';

const infer = (rows: string[][]) => {
  const t = new TypeInference(rows[0]!.length);
  for (const r of rows) t.add(r);
  return t.types();
};

describe('column types', () => {
  it('takes the narrowest type every non-empty value fits', () => {
    expect(infer([['1', '1.5', 'true', '2026-02-28', '2026-02-28T10:00:00Z', 'x', '']])).toEqual([
      'integer',
      'number',
      'boolean',
      'date',
      'datetime',
      'string',
      'string',
    ]);
    expect(infer([['1'], ['2.5'], ['']])).toEqual(['number']);
    expect(infer([['1'], ['abc']])).toEqual(['string']);
    expect(infer([['2026-02-30']])).toEqual(['string']);
    expect(infer([['true'], ['1']])).toEqual(['string']);
    expect(infer([['-1e3'], ['.5']])).toEqual(['number']);
  });
});

describe('names', () => {
  it('field names: trimmed, empty and repeated ones made unique', () => {
    expect(fieldNames(['a', ' ', 'a', 'a'])).toEqual(['a', 'field2', 'a_2', 'a_3']);
  });
  it('resource names the Data Package schema accepts, unique', () => {
    const used = new Set<string>();
    expect(resourceName('Sub Dir/Stations (2026).csv', used)).toBe('sub-dir-stations-2026');
    expect(resourceName('sub dir/stations (2026).tsv', used)).toBe('sub-dir-stations-2026-2');
    expect(resourceName('!!!.csv', used)).toBe('resource');
  });
  it('the starter descriptor passes the schema', () => {
    const d = starterDescriptor(
      'My Data',
      [{ path: 'a b.csv', delimiter: ';', header: ['x', ''], types: ['integer', 'string'] }],
      ['notes.TXT'],
      new Date('2026-11-22T10:00:00Z'),
    );
    expect(descriptorProblem(d)).toBeUndefined();
    expect(d).toMatchObject({ name: 'my-data', title: 'My Data', created: '2026-11-22T10:00:00.000Z' });
    expect((d.resources as unknown[])[0]).toMatchObject({ name: 'a-b', dialect: { delimiter: ';' }, schema: { fields: [{ name: 'x' }, { name: 'field2' }] } });
  });
});
