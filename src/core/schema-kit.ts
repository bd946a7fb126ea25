/**
 * What the schemas (config, advertisements and operator records, source definitions) are written
 * with: valibot underneath (one module with no dependencies, so start-up stays cheap: issue 12),
 * every message given here or at the schema (valibot's defaults are never shown), and a
 * `safeParse` / `parse` whose results callers read as before: `success`, `data`, and
 * `error.issues[n]` with its `path` and `message` (`code` 'unrecognized_keys' with the `keys` a
 * strict object does not know, its `path` the object's).
 */
import * as v from 'valibot';

export type Issue =
  | { code: 'unrecognized_keys'; path: PropertyKey[]; keys: string[]; message: string }
  | { code: 'invalid'; path: PropertyKey[]; message: string };
export type SafeParseResult<T> = { success: true; data: T } | { success: false; error: { issues: Issue[] } };

export interface Parsers<T> {
  safeParse(input: unknown): SafeParseResult<T>;
  /** The value, or throws an Error with the first problem. */
  parse(input: unknown): T;
}
/** A schema that parses by itself: a valibot schema (usable inside others) with `safeParse` and `parse`. */
export type Checked<S extends v.GenericSchema> = S & Parsers<v.InferOutput<S>>;
export type Infer<S extends v.GenericSchema> = v.InferOutput<S>;

/** The keys each unknown-key issue reported (set when its message is made, read by `issuesOf`). */
const unknownKeysOf = new WeakMap<object, string[]>();

function issuesOf(issues: readonly v.BaseIssue<unknown>[]): Issue[] {
  return issues.map((issue) => {
    const path: PropertyKey[] = (issue.path ?? []).map((p) => p.key as PropertyKey);
    const keys = unknownKeysOf.get(issue);
    return keys ? { code: 'unrecognized_keys', path: path.slice(0, -1), keys, message: issue.message } : { code: 'invalid', path, message: issue.message };
  });
}

export function checked<S extends v.GenericSchema>(schema: S): Checked<S> {
  const parsers: Parsers<v.InferOutput<S>> = {
    safeParse(input) {
      const r = v.safeParse(schema, input);
      return r.success ? { success: true, data: r.output } : { success: false, error: { issues: issuesOf(r.issues) } };
    },
    parse(input) {
      const r = parsers.safeParse(input);
      if (r.success) return r.data;
      const issue = r.error.issues[0]!;
      throw new Error(`${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
    },
  };
  return Object.assign(schema, parsers);
}

/** What a value is, for messages: "a number", "a list", "nothing", ... */
export function describe(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'number') return Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? 'a number' : String(x);
  if (typeof x === 'object') return 'an object';
  return typeof x === 'string' ? 'a string' : typeof x === 'boolean' ? String(x) : `a ${typeof x}`;
}

/** "expected a string, received a number" (for a value of the wrong type). */
export const expected =
  (what: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    `expected ${what}, received ${describe(issue.input)}`;

const fmt = (n: number) => n.toLocaleString('en-US');
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export const string = (message: v.ErrorMessage<v.StringIssue> = expected('a string')) => v.string(message);

/** A finite number (NaN and the infinities are the wrong type, as a JSON value cannot be them). */
export const number = (message: v.ErrorMessage<v.BaseIssue<unknown>> = expected('a number')) =>
  v.pipe(
    v.number(message),
    v.custom<number>((n) => Number.isFinite(n), message),
  );

/**
 * A whole number, within what a double holds exactly. Not whole is the wrong type (nothing after it
 * is checked); beyond the safe range, like any bound, lets the remaining checks run.
 */
export const integer = (message?: string) =>
  v.pipe(
    number(message),
    v.custom<number>((n) => Number.isInteger(n), message ?? ((issue) => `expected a whole number, received ${issue.input}`)),
    v.minValue(Number.MIN_SAFE_INTEGER, message ?? `expected a whole number from ${fmt(Number.MIN_SAFE_INTEGER)}`),
    v.maxValue(Number.MAX_SAFE_INTEGER, message ?? `expected a whole number up to ${fmt(Number.MAX_SAFE_INTEGER)}`),
  );

export const atLeast = (min: number, message = `expected ${fmt(min)} or more`) => v.minValue<number, number, string>(min, message);
export const above = (min: number, message = `expected more than ${fmt(min)}`) => v.gtValue<number, number, string>(min, message);
export const atMost = (max: number, message = `expected ${fmt(max)} or less`) => v.maxValue<number, number, string>(max, message);

type Sized = v.LengthInput;
export const minLength = <T extends Sized>(min: number, message = min === 1 ? 'expected a non-empty string' : `expected at least ${fmt(min)} characters`) =>
  v.minLength<T, number, string>(min, message);
export const maxLength = <T extends Sized>(max: number, message = `expected at most ${fmt(max)} characters`) => v.maxLength<T, number, string>(max, message);
export const length = <T extends Sized>(n: number, message = `expected exactly ${fmt(n)} character${n === 1 ? '' : 's'}`) =>
  v.length<T, number, string>(n, message);
export const maxItems = <T extends Sized>(max: number, message = `expected at most ${fmt(max)} entries`) => v.maxLength<T, number, string>(max, message);

export const literal = <const L extends string | number | boolean>(value: L) => v.literal(value, `expected ${JSON.stringify(value)}`);
export const oneOf = <const O extends readonly string[]>(options: O, message = `expected one of ${options.join(', ')}`) => v.picklist(options, message);
export const list = <S extends v.GenericSchema>(item: S) => v.array(item, expected('a list'));

/**
 * An object with exactly these keys (optional ones may be absent); anything else is refused, every
 * unknown key named: `Unrecognized key: "x"` (an issue of code 'unrecognized_keys').
 */
export function strict<E extends v.ObjectEntries>(entries: E) {
  const unknownKeys = (input: Record<string, unknown>) => {
    const keys: string[] = [];
    for (const key in input) if (!Object.hasOwn(entries, key)) keys.push(key);
    return keys;
  };
  const message = (issue: v.BaseIssue<unknown>) => {
    const at = issue.path?.at(-1);
    if (issue.expected !== 'never' || !at) return 'missing';
    const keys = unknownKeys(at.input as Record<string, unknown>);
    unknownKeysOf.set(issue, keys);
    return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
  };
  return v.pipe(v.custom<unknown>(isObject, expected('an object')), v.strictObject(entries, message));
}

/**
 * An object used as a map: every own key (but `__proto__`, dropped) and its value checked. Keys that
 * name Object's own members (`constructor`, ...) are ordinary keys here.
 */
export function record<K extends v.GenericSchema<string, string>, V extends v.GenericSchema>(key: K, value: V) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isObject, expected('an object')),
    v.rawTransform(({ dataset, addIssue }) => {
      const input = dataset.value;
      const out: Record<string, v.InferOutput<V>> = {};
      for (const k of Object.keys(input)) {
        if (k === '__proto__') continue;
        const at = { type: 'object', origin: 'value', input, key: k, value: input[k] } as const;
        const checkedKey = v.safeParse(key, k);
        if (!checkedKey.success) {
          addIssue({ message: `invalid key: ${checkedKey.issues[0].message}`, path: [{ ...at, origin: 'key' }] });
          continue;
        }
        const checkedValue = v.safeParse(value, input[k]);
        if (!checkedValue.success) for (const issue of checkedValue.issues) addIssue({ message: issue.message, path: [at, ...(issue.path ?? [])] });
        out[checkedKey.output] = checkedValue.output;
      }
      return out;
    }),
  );
}

/**
 * `schema` and a check of the whole object that still runs when a problem was found so far, unless
 * that problem is of a wrong or missing value (then the object is not what the check reasons
 * about). Unknown keys and out-of-bound values do not stop it.
 */
export function refineObject<S extends v.GenericSchema<unknown, Record<string, unknown>>>(
  schema: S,
  requirement: (value: v.InferOutput<S>) => boolean,
  message: string,
) {
  return v.pipe(
    schema,
    v.rawCheck<v.InferOutput<S>>(({ dataset, addIssue }) => {
      const stopped = dataset.issues?.some((issue) => issue.kind === 'schema' && !unknownKeysOf.has(issue));
      if (!stopped && !requirement(dataset.value as v.InferOutput<S>)) addIssue({ message });
    }),
  );
}
