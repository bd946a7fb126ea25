/** Data Package descriptors (issue 14): the message naming the field, and the bounded summary signed as `meta`. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Ajv from 'ajv';
import { describeFindings, fieldName, summarizeDescriptor } from '../../src/core/datapackage.js';
import { descriptorProblem } from '../../src/commands/sync/metadata.js';
import { metaSchema, WRITE_LIMITS } from '../../src/core/meta.js';

const valid = { name: 'x', resources: [{ name: 'a', path: 'a.csv' }] };

describe('descriptor validation (the vendored Data Package schema, ajv)', () => {
  it('the vendored schema is a valid JSON Schema (sync compiles it without checking that)', () => {
    const schema = JSON.parse(readFileSync(new URL('../../schemas/datapackage/data-package.json', import.meta.url), 'utf8'));
    delete schema.$schema;
    const ajv = new Ajv({ strict: false, logger: false });
    expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
  });
  it('accepts a minimal and a full descriptor', () => {
    expect(descriptorProblem(valid)).toBeUndefined();
    const full = {
      ...valid,
      title: 'T',
      description: 'D',
      keywords: ['k'],
      licenses: [{ name: 'CC0-1.0' }],
      contributors: [{ title: 'Ann', email: 'ann@example.org', role: 'author' }],
      created: '2026-11-22T10:00:00Z',
      homepage: 'https://example.org/',
      custom: { anything: true },
    };
    expect(descriptorProblem(full)).toBeUndefined();
  });
  it.each([
    [{}, 'field resources: missing (required)'],
    [{ resources: [] }, 'field resources: expected at least 1 item(s)'],
    [{ resources: [{ name: 'a' }] }, 'field resources[0]: needs one of data, path'],
    [{ ...valid, keywords: 'rain' }, 'field keywords: expected array, received "rain"'],
    [{ ...valid, name: 'Has Spaces' }, 'field name: "Has Spaces" does not match ^([-a-z0-9._/])+$'],
    [{ ...valid, contributors: [{ title: 'A', email: 'not-an-email' }] }, 'field contributors[0].email: "not-an-email" is not a valid email'],
    [{ ...valid, created: 'yesterday' }, 'field created: "yesterday" is not a valid date-time'],
    [[valid], 'field (descriptor): expected object, received [{"name":"x","resources":[{"name":"a","path":"a.csv"}]}]'],
  ])('names the field: %j', (descriptor, message) => expect(descriptorProblem(descriptor)).toBe(message));

  it('escapes what it quotes from the file', () => {
    expect(descriptorProblem({ ...valid, name: 'a\u202eb\u001b[2J' })).not.toMatch(/[\u202e\u001b]/);
  });
  it('field names from JSON pointers', () => {
    expect(fieldName('/resources/0/schema/fields/2/name')).toBe('resources[0].schema.fields[2].name');
    expect(fieldName('', 'resources')).toBe('resources');
    expect(describeFindings([], {})).toMatch(/does not match/);
  });
});

describe('the meta summary', () => {
  it('takes title, description, keywords, licences and resource names', () => {
    expect(
      summarizeDescriptor({
        ...valid,
        title: ' Rain ',
        description: 'Hourly',
        keywords: ['rain', 'rain', ' '],
        licenses: [{ name: 'CC-BY-4.0' }, { path: 'https://example.org/l', title: 'Ours' }],
      }),
    ).toEqual({ title: 'Rain', description: 'Hourly', keywords: ['rain'], licenses: ['CC-BY-4.0', 'Ours'], resources: ['a'] });
    expect(summarizeDescriptor({ resources: [{ name: 'a', path: 'a' }] })).toEqual({ resources: ['a'] });
  });
  it('is bounded (text cut without splitting a character, lists cut) and readable by every reader', () => {
    const huge = {
      title: '😀'.repeat(5000),
      description: 'd'.repeat(100_000),
      keywords: Array.from({ length: 1000 }, (_, i) => `k${i}${'x'.repeat(200)}`),
      licenses: Array.from({ length: 100 }, (_, i) => ({ name: `l${i}` })),
      resources: Array.from({ length: 10_000 }, (_, i) => ({ name: `r${i}`, path: `r${i}.csv` })),
    };
    const meta = summarizeDescriptor(huge);
    expect(Array.from(meta.title!)).toHaveLength(WRITE_LIMITS.title);
    expect(meta.title!.endsWith('…')).toBe(true);
    expect(meta.title!.slice(0, -1)).toMatch(/^(😀)+$/u);
    expect(meta.description!.length).toBe(WRITE_LIMITS.description);
    expect(meta.keywords).toHaveLength(WRITE_LIMITS.keywords);
    expect(meta.licenses).toHaveLength(WRITE_LIMITS.licenses);
    expect(meta.resources).toHaveLength(WRITE_LIMITS.resources);
    expect(metaSchema.safeParse(meta).success).toBe(true);
    expect(JSON.stringify(meta).length).toBeLessThan(20_000);
  });
});
