/**
 * syncer source add|list|remove|pull|push: the flags of each subcommand. `add`'s flags are named as
 * the definition's fields (src/sources' schema checks their values), so they map by name.
 */
import { defineCommand, readFlags, type FlagSpec } from '../command.js';
import type { AddOptions, SourceCommand } from './index.js';

const load = async () => (await import('./index.js')).run;

const addFlags: Record<string, FlagSpec> = {
  hub: { type: 'string', describe: 'hub the records go to' },
  type: { type: 'string', choices: ['csv', 'http', 'postgres'], describe: 'where the records live' },
  'id-field': { type: 'string', describe: 'field holding the record id at the source (default id)' },
  'updated-field': { type: 'string', describe: 'field holding when a record changed: enables the incremental cursor' },
  into: { type: 'string', describe: 'data file <hub>/<into>.ndjson (default: NAME; sources sharing a file sync two-way)' },
  format: { type: 'string', choices: ['ndjson', 'csv'], describe: 'how the hub data file is stored (default ndjson)' },
  replace: { type: 'boolean', describe: 'redefine an existing source' },
  file: { type: 'string', describe: 'csv: local file (relative to the repository root)' },
  url: { type: 'string', describe: 'csv: http(s) URL; http: API URL; postgres: postgres://user@host:port/db (no password)' },
  delimiter: { type: 'string', describe: 'csv: field delimiter (default ","; "tab" for tabs)' },
  quote: { type: 'string', describe: 'csv: quote character (default ")' },
  encoding: { type: 'string', choices: ['utf8', 'latin1', 'utf16le'], describe: 'csv: file encoding (default utf8)' },
  'records-path': { type: 'string', describe: 'http: dot path to the records array in a response' },
  paging: { type: 'string', choices: ['none', 'start', 'page', 'next'], describe: 'http: start/limit, page/limit, next link, or none' },
  'page-size': { type: 'number', describe: 'http: records per page (default 100)' },
  'start-param': { type: 'string', describe: 'http: offset parameter (default start)' },
  'limit-param': { type: 'string', describe: 'http: page size parameter (default limit)' },
  'page-param': { type: 'string', describe: 'http: page number parameter (default page)' },
  'first-page': { type: 'number', describe: 'http: number of the first page (default 1)' },
  'next-path': { type: 'string', describe: 'http: dot path to the next page URL (else a Link rel="next" header)' },
  'since-param': { type: 'string', describe: 'http: query parameter that carries the cursor' },
  'token-env': { type: 'string', describe: 'http: environment variable holding a bearer token' },
  retries: { type: 'number', describe: 'http: retries on 429/5xx and network errors (default 4)' },
  'push-url': { type: 'string', describe: 'http: where push POSTs batches (default --url)' },
  'push-ids-path': { type: 'string', describe: 'http: dot path to the assigned ids in a push response' },
  'batch-size': { type: 'number', describe: 'http/postgres: records per push batch' },
  'password-env': { type: 'string', describe: 'postgres: environment variable holding the password (else PGPASSWORD)' },
  table: { type: 'string', describe: 'postgres: table (schema.table) to read and upsert' },
  query: { type: 'string', describe: 'postgres: SELECT to read from (pull only)' },
  'timeout-ms': { type: 'number', describe: 'deadline of one request, connection or read (default 30000)' },
};

const name = { name: { describe: "the source's NAME" } };

const add = defineCommand<SourceCommand>({
  usage: 'add <name>',
  describe: 'define a source (stored in .syncer/sources.json, committed; never a secret)',
  positionals: name,
  flags: addFlags,
  examples: [
    '$0 source add wells --hub water --type http --url https://api.example.org/wells --paging start --updated-field updatedAt',
    '$0 source add readings --hub water --type postgres --url postgres://syncer@db/water --password-env PGPASS --table readings --updated-field updated_at',
  ],
  options: (a) => ({ action: 'add', name: a.string('name') ?? '', ...(readFlags(a, addFlags) as Omit<AddOptions, 'name'>) }),
  load,
});

const list = defineCommand<SourceCommand>({
  usage: 'list',
  describe: 'the defined sources, their data files and cursors',
  options: () => ({ action: 'list' }),
  load,
});

const remove = defineCommand<SourceCommand>({
  usage: 'remove <name>',
  describe: 'forget a source (its records stay in the hub)',
  positionals: name,
  options: (a) => ({ action: 'remove', name: a.string('name') ?? '' }),
  load,
});

const pull = defineCommand<SourceCommand>({
  usage: 'pull <name>',
  describe: 'fetch new and changed records into <hub>/<name>.ndjson and commit them with the cursor',
  positionals: name,
  flags: {
    full: { type: 'boolean', describe: 'ignore the cursor: fetch everything' },
    'dry-run': { type: 'boolean', describe: 'fetch and report, write nothing' },
    sync: { type: 'boolean', describe: 'publish the hub afterwards, as syncer sync does' },
  },
  examples: ['$0 source pull wells --sync'],
  options: (a) => ({ action: 'pull', name: a.string('name') ?? '', full: a.boolean('full'), dryRun: a.boolean('dry-run'), sync: a.boolean('sync') }),
  load,
});

const push = defineCommand<SourceCommand>({
  usage: 'push <name>',
  describe: 'send records changed since the last push; commit the ids the destination assigned',
  positionals: name,
  flags: { 'dry-run': { type: 'boolean', describe: 'count what would be sent, send nothing' } },
  options: (a) => ({ action: 'push', name: a.string('name') ?? '', dryRun: a.boolean('dry-run') }),
  load,
});

export const sourceCommand = defineCommand<never>({
  usage: 'source',
  describe: 'data sources feeding a hub: add | list | remove | pull | push (CSV, HTTP APIs, PostgreSQL)',
  subcommands: [add, list, remove, pull, push],
  missingSubcommand: 'name a source subcommand: add, list, remove, pull or push',
});
