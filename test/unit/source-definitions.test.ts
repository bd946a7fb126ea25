import { describe, expect, it } from 'vitest';
import { checkDefinition, dataFile, parseSourcesFile, secretProblems, serializeSourcesFile, type Definition } from '../../src/sources/core/definitions.js';
import { definitionFromFlags } from '../../src/commands/source/index.js';

describe('source definitions', () => {
  it('validates per type and rejects options of another type', () => {
    expect(checkDefinition({ type: 'csv', hub: 'crm', file: 'people.csv' })).toEqual({ type: 'csv', hub: 'crm', file: 'people.csv' });
    expect(() => checkDefinition({ type: 'csv', hub: 'crm' })).toThrow(/exactly one of --file or --url/);
    expect(() => checkDefinition({ type: 'csv', hub: 'crm', file: 'a', url: 'https://x/y.csv' })).toThrow(/exactly one/);
    expect(() => checkDefinition({ type: 'csv', hub: 'crm', file: 'a', table: 't' })).toThrow(/Unrecognized key/);
    expect(() => checkDefinition({ type: 'postgres', hub: 'crm', url: 'postgres://u@h/db', table: 'a', query: 'select 1' })).toThrow(
      /exactly one of --table or --query/,
    );
    expect(() => checkDefinition({ type: 'postgres', hub: 'crm', url: 'postgres://u@h/db', table: 'x; drop table y' })).toThrow(/table name/);
    expect(() => checkDefinition({ type: 'http', hub: 'Crm', url: 'https://x' })).toThrow(/hub/);
    expect(() => checkDefinition({ type: 'http', hub: 'crm', url: 'ftp://x' })).toThrow(/http/);
    expect(() => checkDefinition({ type: 'http', hub: 'crm', url: 'https://x', tokenEnv: 'MY-TOKEN' })).toThrow(/environment variable/);
    expect(() => checkDefinition({ type: 'ldap', hub: 'crm' })).toThrow();
  });

  it('finds secrets in URLs and queries, not in variable names', () => {
    const d = (x: Record<string, unknown>) => checkDefinition(x);
    expect(secretProblems(d({ type: 'postgres', hub: 'h', url: 'postgres://me:pw@db/x', table: 't' }))).toEqual(['--url embeds a password']);
    expect(secretProblems(d({ type: 'postgres', hub: 'h', url: 'postgres://me@db/x?password=pw', table: 't' }))).toEqual([
      '--url embeds a secret in its query (password=...)',
    ]);
    expect(secretProblems(d({ type: 'postgres', hub: 'h', url: 'postgres://me@db/x?sslmode=require', table: 't', passwordEnv: 'PGPASS' }))).toEqual([]);
    expect(secretProblems(d({ type: 'http', hub: 'h', url: 'https://api/x?access_token=t0k&page=1' }))).toEqual([
      '--url embeds a secret in its query (access_token=...)',
    ]);
    expect(secretProblems(d({ type: 'http', hub: 'h', url: 'https://key@api/x' }))).toEqual(['--url embeds credentials (user info)']);
    expect(secretProblems(d({ type: 'http', hub: 'h', url: 'https://api/x', pushUrl: 'https://u:p@api/y', tokenEnv: 'TOKEN' }))).toEqual([
      '--push-url embeds a password',
    ]);
    expect(secretProblems(d({ type: 'postgres', hub: 'h', url: 'postgres://me@db/x', query: "select * from dblink('password=''x''')" }))).toEqual([]);
    expect(secretProblems(d({ type: 'postgres', hub: 'h', url: 'postgres://me@db/x', query: "select * from t where password = 'hunter2'" }))).toEqual([
      '--query contains a password',
    ]);
  });

  it('flags become a definition, and a secret is refused with exit 2', () => {
    expect(definitionFromFlags({ name: 'w', url: 'https://api/x', paging: 'start', pageSize: 50 }, 'water', 'http')).toEqual({
      type: 'http',
      hub: 'water',
      url: 'https://api/x',
      paging: 'start',
      pageSize: 50,
    });
    expect(() => definitionFromFlags({ name: 'w', url: 'postgres://a:b@h/d', table: 't' }, 'water', 'postgres')).toThrow(
      expect.objectContaining({ kind: 'USAGE', message: expect.not.stringContaining(':b@') }),
    );
    expect(() => definitionFromFlags({ name: 'w' }, 'water', 'excel')).toThrow(/invalid --type/);
  });

  it('round-trips the sources file with stable, sorted text', () => {
    const sources: Record<string, Definition> = {
      zeta: checkDefinition({ url: 'https://x', type: 'http', hub: 'h', updatedField: 'u' }),
      alpha: checkDefinition({ type: 'csv', hub: 'h', file: 'a.csv', into: 'shared', format: 'csv' }),
    };
    const text = serializeSourcesFile({ schema: 1, sources });
    expect(text.indexOf('"alpha"')).toBeLessThan(text.indexOf('"zeta"'));
    expect(text).toContain('"type": "http",\n      "hub": "h",\n      "updatedField": "u",\n      "url": "https://x"');
    expect(parseSourcesFile(text)).toEqual({ schema: 1, sources });
    expect(() => parseSourcesFile('{"schema":2,"sources":{}}')).toThrow();
    expect(() => parseSourcesFile('{"schema":1,"sources":{"Bad":{}}}')).toThrow(/not a valid name/);
    expect(() => parseSourcesFile('nope')).toThrow(/not JSON/);
    expect(dataFile('alpha', sources.alpha!)).toBe('h/shared.csv');
    expect(dataFile('zeta', sources.zeta!)).toBe('h/zeta.ndjson');
  });
});
