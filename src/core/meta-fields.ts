/**
 * Fields a reader does not know (forward compatibility: a later syncer may add optional fields to an
 * advertisement, or to its `meta`, without splitting the network). Such fields are kept as they
 * are, so the signature, which covers every field but `remote` and `signature` (canonical JSON of
 * what was parsed), covers them too: nobody can add, change or drop one in an entry signed by
 * someone else. They are never shown or acted on. A hostile writer is still bounded:
 *
 * - names: camelCase, a lower-case letter first, at most 64 characters (so never `__proto__`,
 *   which could otherwise lend a reader an inherited value the signature does not cover);
 * - values: JSON nested at most MAX_UNKNOWN_DEPTH deep (canonical JSON recurses into them), with no
 *   `__proto__` key at any depth; at most MAX_UNKNOWN_FIELDS such fields per object;
 * - sizes: the whole value is already bounded (MAX_ADVERTISEMENT_BYTES).
 */
import * as v from 'valibot';
import { expected } from './schema-kit.js';

export const UNKNOWN_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
export const MAX_UNKNOWN_DEPTH = 8;
export const MAX_UNKNOWN_FIELDS = 32;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Why the value of an unknown field is refused, or undefined. Iterative: a hostile nesting never reaches the stack. */
export function unknownValueProblem(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= MAX_UNKNOWN_DEPTH) return `nested more than ${MAX_UNKNOWN_DEPTH} deep`;
    if (Array.isArray(x)) {
      for (const item of x) stack.push([item, depth + 1]);
      continue;
    }
    for (const key of Object.keys(x)) {
      if (key === '__proto__') return 'holds a "__proto__" key';
      stack.push([(x as Record<string, unknown>)[key], depth + 1]);
    }
  }
  return undefined;
}

/** Why an unknown field `name` with `value` is refused, or undefined. */
export function unknownFieldProblem(name: string, value: unknown): string | undefined {
  if (!UNKNOWN_NAME.test(name)) return 'unknown field with a name no syncer writes (camelCase, at most 64 characters)';
  return unknownValueProblem(value);
}

/**
 * An object with these known entries, checked as `known` checks them (a strict object schema), and
 * any other field kept as it is when `unknownFieldProblem` accepts it (see above).
 */
export function openObject<E extends v.ObjectEntries, S extends v.GenericSchema<unknown, Record<string, unknown>>>(entries: E, known: S) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isObject, expected('an object')),
    v.rawTransform<Record<string, unknown>, v.InferOutput<S>>(({ dataset, addIssue, NEVER }) => {
      const input = dataset.value;
      const knownPart: Record<string, unknown> = {};
      const extra: [string, unknown][] = [];
      for (const key of Object.keys(input)) {
        if (Object.hasOwn(entries, key)) knownPart[key] = input[key];
        else extra.push([key, input[key]]);
      }
      let bad = false;
      if (extra.length > MAX_UNKNOWN_FIELDS) {
        addIssue({ message: `${extra.length} unknown fields (at most ${MAX_UNKNOWN_FIELDS})` });
        bad = true;
      }
      for (const [key, value] of extra) {
        const problem = unknownFieldProblem(key, value);
        if (problem) {
          addIssue({ message: problem, path: [{ type: 'object', origin: 'value', input, key, value }] });
          bad = true;
        }
      }
      const parsed = v.safeParse(known, knownPart);
      if (!parsed.success) {
        for (const issue of parsed.issues) addIssue({ message: issue.message, path: issue.path ? [...issue.path] : undefined });
        return NEVER;
      }
      if (bad) return NEVER;
      const out = parsed.output as Record<string, unknown>;
      for (const [key, value] of extra) out[key] = value; // names checked above: never __proto__
      return out as v.InferOutput<S>;
    }),
  );
}

/** The fields of `value` that `entries` does not name, in their order. */
export function unknownFields(value: object, entries: v.ObjectEntries): string[] {
  return Object.keys(value).filter((k) => !Object.hasOwn(entries, k));
}
