/**
 * What `syncer describe` decides, pure: Table Schema field types from sampled CSV values, resource
 * names the Data Package schema accepts, and the starter descriptor. Reading files and parsing CSV
 * (csv-parse) are in commands/describe/.
 */
export type FieldType = 'integer' | 'number' | 'boolean' | 'date' | 'datetime' | 'string';

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOLEAN = /^(?:true|false|TRUE|FALSE|True|False)$/;
const DATE = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/;
const DATETIME = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$/;

/** A real day (no 30 February): the date read back is the same. */
const isCalendarDate = (v: string) => {
  const t = Date.parse(`${v}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === v;
};

/** The candidate types, narrowest first: a column gets the first that all its non-empty values fit. */
const CANDIDATES: [FieldType, (v: string) => boolean][] = [
  ['integer', (v) => INTEGER.test(v)],
  ['number', (v) => NUMBER.test(v)],
  ['boolean', (v) => BOOLEAN.test(v)],
  ['date', (v) => DATE.test(v) && isCalendarDate(v)],
  ['datetime', (v) => DATETIME.test(v)],
];

/** Infers column types as values are seen (empty values say nothing: Table Schema's default missing value). */
export class TypeInference {
  private readonly possible: Set<FieldType>[];
  private readonly seen: boolean[];

  constructor(readonly columns: number) {
    this.possible = Array.from({ length: columns }, () => new Set(CANDIDATES.map(([t]) => t)));
    this.seen = Array.from({ length: columns }, () => false);
  }

  add(row: readonly string[]): void {
    for (let i = 0; i < this.columns; i++) {
      const value = (row[i] ?? '').trim();
      if (value === '') continue;
      this.seen[i] = true;
      const set = this.possible[i]!;
      for (const [type, fits] of CANDIDATES) if (set.has(type) && !fits(value)) set.delete(type);
    }
  }

  types(): FieldType[] {
    return this.possible.map((set, i) => (this.seen[i] ? (CANDIDATES.find(([t]) => set.has(t))?.[0] ?? 'string') : 'string'));
  }
}

/** Header cells as field names: trimmed, empty ones `field<N>`, repeated ones suffixed `_2`, `_3`. */
export function fieldNames(header: readonly string[]): string[] {
  const used = new Set<string>();
  return header.map((h, i) => {
    const base = h.trim() || `field${i + 1}`;
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}_${n}`;
    used.add(name);
    return name;
  });
}

/** A name the Data Package schema accepts (`^[-a-z0-9._/]+$`), from a file's relative path; unique among `used`. */
export function resourceName(relPath: string, used: Set<string>): string {
  const stem = relPath.replace(/\.[^./]+$/, '');
  const base =
    stem
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '') || 'resource';
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
  used.add(name);
  return name;
}

export interface TableSample {
  /** Relative POSIX path in the dataset directory. */
  path: string;
  delimiter: string;
  header: string[];
  types: FieldType[];
}

const MEDIA: Record<string, string> = {
  json: 'application/json',
  geojson: 'application/geo+json',
  parquet: 'application/vnd.apache.parquet',
  txt: 'text/plain',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  zip: 'application/zip',
  nc: 'application/x-netcdf',
};

/**
 * The starter descriptor for a directory named `dirName`: one tabular resource per sampled table
 * (with its Table Schema), one plain resource per other file; title and name from the directory.
 */
export function starterDescriptor(dirName: string, tables: readonly TableSample[], others: readonly string[], created: Date): Record<string, unknown> {
  const used = new Set<string>();
  const resources: Record<string, unknown>[] = [];
  for (const t of tables) {
    const names = fieldNames(t.header);
    resources.push({
      name: resourceName(t.path, used),
      path: t.path,
      profile: 'tabular-data-resource',
      format: t.delimiter === '\t' ? 'tsv' : 'csv',
      mediatype: t.delimiter === '\t' ? 'text/tab-separated-values' : 'text/csv',
      encoding: 'utf-8',
      ...(t.delimiter !== ',' ? { dialect: { delimiter: t.delimiter } } : {}),
      schema: { fields: names.map((name, i) => ({ name, type: t.types[i] ?? 'string' })) },
    });
  }
  for (const path of others) {
    const ext = /\.([^./]+)$/.exec(path)?.[1]?.toLowerCase();
    resources.push({ name: resourceName(path, used), path, ...(ext ? { format: ext } : {}), ...(ext && MEDIA[ext] ? { mediatype: MEDIA[ext] } : {}) });
  }
  const used2 = new Set<string>();
  return {
    name: resourceName(dirName, used2),
    title: dirName,
    created: created.toISOString(),
    resources,
  };
}
