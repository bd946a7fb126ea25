/**
 * Source definitions (`.syncer/sources.json` in the operator's repository): their schema, the
 * defaults every connector reads, and the check that keeps secrets out of a versioned file. The
 * schema is the one list of a definition's options, their types and bounds: `DEFINITION_FIELDS`
 * and `DefinitionFlags` (what `source add` takes) are read from it. Pure: no I/O here (the file is
 * read and written by ../repo.ts).
 */
import * as v from 'valibot';
import { isName } from '../../core/names.js';
import {
  above,
  atLeast,
  atMost,
  checked,
  expected,
  type Infer,
  type Issue,
  integer,
  length,
  literal,
  maxLength,
  minLength,
  oneOf,
  record,
  refineObject,
  string,
  strict,
} from '../../core/schema-kit.js';

export const SOURCES_FILE = '.syncer/sources.json';
export const STATE_DIR = '.syncer/state';

const name = v.pipe(string(), v.check(isName, 'not a valid name (lower case, ^[a-z0-9][a-z0-9._-]{0,62}$, no "..", not ending in "." or ".lock")'));
const field = v.pipe(string(), minLength(1), maxLength(200), v.regex(/^[^\u0000-\u001f]+$/, 'no control characters'));
const envName = v.pipe(string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name (letters, digits, _)'));
const httpUrl = v.pipe(string(), v.regex(/^https?:\/\/[^\s]+$/i, 'an http(s):// URL'));
const posInt = v.pipe(integer(), above(0));
const text = v.pipe(string(), minLength(1));

const common = {
  hub: name,
  /** Field holding the record's id at the source (default `id`). */
  idField: v.optional(field),
  /** Field holding when the record last changed at the source: enables the incremental cursor. */
  updatedField: v.optional(field),
  /** Stem of the hub's data file, `<hub>/<into>.<format>` (default: the source's name). */
  into: v.optional(name),
  /** How the hub's data file is stored (default ndjson). */
  format: v.optional(oneOf(['ndjson', 'csv'])),
};

const csvEntries = {
  type: literal('csv'),
  ...common,
  /** A local file (relative paths are relative to the repository root) ... */
  file: v.optional(text),
  /** ... or an http(s) URL. */
  url: v.optional(httpUrl),
  delimiter: v.optional(v.pipe(string(), minLength(1), maxLength(10))),
  quote: v.optional(v.pipe(string(), length(1))),
  encoding: v.optional(oneOf(['utf8', 'latin1', 'utf16le'])),
  timeoutMs: v.optional(posInt),
};
const csvDef = refineObject(strict(csvEntries), (d) => (d.file === undefined) !== (d.url === undefined), 'a csv source needs exactly one of --file or --url');

const httpEntries = {
  type: literal('http'),
  ...common,
  url: httpUrl,
  /** Dot path to the records array in a response (default: the body itself, or records/data/items/results). */
  recordsPath: v.optional(text),
  paging: v.optional(oneOf(['none', 'start', 'page', 'next'])),
  pageSize: v.optional(v.pipe(posInt, atMost(100_000))),
  startParam: v.optional(field),
  limitParam: v.optional(field),
  pageParam: v.optional(field),
  firstPage: v.optional(v.pipe(integer(), atLeast(0))),
  /** Dot path to the next page's URL (paging next; a `Link: <...>; rel="next"` header also works). */
  nextPath: v.optional(text),
  /** Query parameter that carries the cursor, so the API filters; without it syncer filters. */
  sinceParam: v.optional(field),
  /** Environment variable holding a bearer token. */
  tokenEnv: v.optional(envName),
  timeoutMs: v.optional(posInt),
  retries: v.optional(v.pipe(integer(), atLeast(0), atMost(10))),
  /** Where push POSTs batches (default: url). */
  pushUrl: v.optional(httpUrl),
  /** Dot path to the assigned ids (or records) in a push response, in the order sent. */
  pushIdsPath: v.optional(text),
  batchSize: v.optional(v.pipe(posInt, atMost(10_000))),
};
const httpDef = strict(httpEntries);

const postgresEntries = {
  type: literal('postgres'),
  ...common,
  /** postgres://user@host:port/db (no password: use passwordEnv, or PGPASSWORD). */
  url: v.pipe(string(), v.regex(/^postgres(ql)?:\/\/[^\s]*$/i, 'a postgres:// URL')),
  passwordEnv: v.optional(envName),
  table: v.optional(v.pipe(string(), v.regex(/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/, 'a table name, optionally schema.table'))),
  query: v.optional(v.pipe(string(), minLength(1), maxLength(100_000))),
  timeoutMs: v.optional(posInt),
  batchSize: v.optional(v.pipe(posInt, atMost(10_000))),
};
const postgresDef = refineObject(
  strict(postgresEntries),
  (d) => (d.table === undefined) !== (d.query === undefined),
  'a postgres source needs exactly one of --table or --query',
);

export const SOURCE_TYPES = ['csv', 'http', 'postgres'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

const bySourceType = { csv: csvDef, http: httpDef, postgres: postgresDef } as const;
/** What refuses a `type` that is none of them (at `type`); it never returns a value. */
const unknownType = v.object({ type: oneOf(SOURCE_TYPES) }, `expected one of ${SOURCE_TYPES.join(', ')}`) as unknown as v.GenericSchema<unknown, never>;
/** One of the three, chosen by `type` (which must be one of them). */
export const definitionSchema = checked(
  v.pipe(
    v.custom<unknown>((d) => typeof d === 'object' && d !== null && !Array.isArray(d), expected('an object')),
    v.lazy((d) => {
      const type = (d as { type?: unknown }).type;
      return typeof type === 'string' && Object.hasOwn(bySourceType, type) ? bySourceType[type as SourceType] : unknownType;
    }),
  ),
);
export type Definition = Infer<typeof csvDef> | Infer<typeof httpDef> | Infer<typeof postgresDef>;
export type CsvDefinition = Extract<Definition, { type: 'csv' }>;
export type HttpDefinition = Extract<Definition, { type: 'http' }>;
export type PostgresDefinition = Extract<Definition, { type: 'postgres' }>;

// ---------------------------------------------------------------------------------------------
// The options of a definition as flags (`source add --page-size 50`), read from the schema.

type KeysOf<U> = U extends unknown ? keyof U : never;
type ValueOf<U, K extends PropertyKey> = U extends unknown ? (K extends keyof U ? U[K] : never) : never;
type Widen<V> = V extends number ? number : V extends string ? string : never;

/** Every option of a definition but `type` and `hub`, as given on the command line: text or a number. */
export type DefinitionFlags = { [K in Exclude<KeysOf<Definition>, 'type' | 'hub'>]?: Widen<ValueOf<Definition, K>> };

export interface DefinitionField {
  key: keyof DefinitionFlags;
  kind: 'string' | 'number';
  /** The allowed values, for an option that is one of a list. */
  choices?: readonly string[];
  /** The source types whose definitions have this option. */
  types: SourceType[];
}

const objectEntries = { csv: csvEntries, http: httpEntries, postgres: postgresEntries } as const;

/** What the schema of one option says: a number or text, maybe one of a list (optional or not). */
interface SchemaShape {
  type: string;
  wrapped?: SchemaShape;
  pipe?: readonly SchemaShape[];
  options?: readonly string[];
}
const innermost = (s: SchemaShape): SchemaShape => (s.wrapped ? innermost(s.wrapped) : s.pipe ? innermost(s.pipe[0]!) : s);

function fieldsOfSchemas(): DefinitionField[] {
  const fields = new Map<string, DefinitionField>();
  for (const type of SOURCE_TYPES) {
    for (const [key, schema] of Object.entries<SchemaShape>(objectEntries[type])) {
      if (key === 'type' || key === 'hub') continue;
      const inner = innermost(schema);
      const field = fields.get(key) ?? { key: key as keyof DefinitionFlags, kind: inner.type === 'number' ? 'number' : 'string', types: [] };
      if (inner.type === 'picklist') field.choices = inner.options;
      field.types.push(type);
      fields.set(key, field);
    }
  }
  return [...fields.values()];
}

/** The options of every source type (besides `type` and `hub`), in schema order. */
export const DEFINITION_FIELDS: readonly DefinitionField[] = fieldsOfSchemas();

/** The definition options among `flags` (others, like `name` or `replace`, are not part of a definition). */
export function definitionOptions(flags: DefinitionFlags): DefinitionFlags {
  const out: Record<string, unknown> = {};
  for (const { key } of DEFINITION_FIELDS) if (flags[key] !== undefined) out[key] = flags[key];
  return out as DefinitionFlags;
}

export const sourcesFileSchema = checked(
  strict({
    schema: literal(1),
    sources: record(string(), v.unknown()),
  }),
);

export interface SourcesFile {
  schema: 1;
  sources: Record<string, Definition>;
}

/** Resolved names and paths of a definition. */
export const idFieldOf = (d: Definition) => d.idField ?? 'id';
export const fileStem = (name: string, d: Definition) => d.into ?? name;
export const dataFile = (name: string, d: Definition) => `${d.hub}/${fileStem(name, d)}.${d.format ?? 'ndjson'}`;
export const stateFile = (name: string) => `${STATE_DIR}/${name}.json`;

function issues(e: { issues: Issue[] }): string {
  return e.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

/** Parse `.syncer/sources.json` text. Throws an Error with a readable message (the caller makes it exit 2). */
export function parseSourcesFile(text: string): SourcesFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  const top = sourcesFileSchema.safeParse(raw);
  if (!top.success) throw new Error(issues(top.error));
  const sources: Record<string, Definition> = {};
  for (const [n, d] of Object.entries(top.data.sources)) {
    if (!isName(n)) throw new Error(`source ${JSON.stringify(n)}: not a valid name`);
    const parsed = definitionSchema.safeParse(d);
    if (!parsed.success) throw new Error(`source ${n}: ${issues(parsed.error)}`);
    sources[n] = parsed.data;
  }
  return { schema: 1, sources };
}

/** Stable text: sources and keys sorted, so the file diffs cleanly. */
export function serializeSourcesFile(file: SourcesFile): string {
  const sources: Record<string, unknown> = {};
  for (const n of Object.keys(file.sources).sort()) {
    const d = file.sources[n]! as Record<string, unknown>;
    const sorted: Record<string, unknown> = { type: d.type };
    for (const k of Object.keys(d).sort()) if (k !== 'type' && d[k] !== undefined) sorted[k] = d[k];
    sources[n] = sorted;
  }
  return `${JSON.stringify({ schema: 1, sources }, null, 2)}\n`;
}

/** Validate a definition built from flags: throws with the problems in one message. */
export function checkDefinition(raw: Record<string, unknown>): Definition {
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const parsed = definitionSchema.safeParse(cleaned);
  if (!parsed.success) throw new Error(issues(parsed.error));
  return parsed.data;
}

const SECRET_NAMES = [
  'pass(word|wd)?',
  'pwd',
  'secret',
  'client[-_]?secret',
  'token',
  'access[-_]?token',
  'auth(orization)?',
  'api[-_]?key',
  'apikey',
  'key',
  'sig(nature)?',
  'credentials?',
  'sslpassword',
  'private[-_]?key',
];
const SECRET_PARAM = new RegExp(`^(${SECRET_NAMES.join('|')})$`, 'i');

function urlSecrets(label: string, url: string): string[] {
  const problems: string[] = [];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [`${label} is not a valid URL`];
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (u.password) problems.push(`${label} embeds a password`);
  else if (u.username && (scheme === 'http' || scheme === 'https')) problems.push(`${label} embeds credentials (user info)`);
  for (const [k, v] of u.searchParams) {
    if (v !== '' && SECRET_PARAM.test(k)) problems.push(`${label} embeds a secret in its query (${k}=...)`);
  }
  return problems;
}

/**
 * Why a definition would put a secret into the repository: passwords or tokens in URLs or
 * options. Definitions name environment variables instead (passwordEnv, tokenEnv).
 */
export function secretProblems(d: Definition): string[] {
  const problems: string[] = [];
  const rec = d as Record<string, unknown>;
  for (const key of ['url', 'pushUrl'] as const) {
    const v = rec[key];
    if (typeof v === 'string') problems.push(...urlSecrets(`--${key === 'url' ? 'url' : 'push-url'}`, v));
  }
  if (d.type === 'postgres' && d.query && /\bpassword\s*(=|:=|\s)\s*'[^']+'/i.test(d.query)) problems.push('--query contains a password');
  return problems;
}

/** Names of the environment variables a definition reads (for `source list` and messages). */
export function envVars(d: Definition): string[] {
  if (d.type === 'http' && d.tokenEnv) return [d.tokenEnv];
  if (d.type === 'postgres' && d.passwordEnv) return [d.passwordEnv];
  return [];
}

/** One line describing where the records come from (no secrets: there are none in a definition). */
export function describeLocation(d: Definition): string {
  if (d.type === 'csv') return d.file ?? d.url!;
  if (d.type === 'http') return d.url;
  return `${d.url} ${d.table ? `table ${d.table}` : 'query'}`;
}
