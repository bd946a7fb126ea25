/**
 * The `meta` object of an advertisement: a summary of the dataset's Data Package descriptor
 * (`datapackage.json`), signed with the advertisement. Optional (`schema` stays 1); a later syncer
 * may add fields to it (kept and signed, never shown: core/meta-fields.ts).
 *
 * Sizes are bounded twice: `sync` writes at most WRITE_LIMITS (summarizeDescriptor in
 * core/datapackage.ts cuts longer text and lists), readers refuse more than READ_LIMITS (room for a
 * later syncer to write a little more without being refused), and everything shown on a terminal
 * is cut again and escaped.
 */
import * as v from 'valibot';
import { checked, type Infer, list, maxItems, maxLength, string, strict } from './schema-kit.js';
import { openObject } from './meta-fields.js';

export const WRITE_LIMITS = { title: 200, description: 500, keyword: 60, keywords: 20, license: 100, licenses: 8, resource: 100, resources: 100 } as const;
export const READ_LIMITS = { title: 1000, description: 4000, keyword: 200, keywords: 100, license: 300, licenses: 32, resource: 300, resources: 1000 } as const;

const text = (max: number) => v.pipe(string(), maxLength(max));
const texts = (each: number, count: number) => v.pipe(list(text(each)), maxItems(count));

const metaEntries = {
  title: v.optional(text(READ_LIMITS.title)),
  description: v.optional(text(READ_LIMITS.description)),
  keywords: v.optional(texts(READ_LIMITS.keyword, READ_LIMITS.keywords)),
  licenses: v.optional(texts(READ_LIMITS.license, READ_LIMITS.licenses)),
  /** The descriptor's resource names (at most WRITE_LIMITS.resources of them). */
  resources: v.optional(texts(READ_LIMITS.resource, READ_LIMITS.resources)),
};

export const metaSchema = checked(openObject(metaEntries, strict(metaEntries)));
export type Meta = Infer<typeof metaSchema>;

/** `text` cut to `max` code points (never half a surrogate pair), with `…` when cut. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/**
 * For `ls HUB DATE`: each entry's `meta` in its JSON row (when it has one) and its title, cut and
 * later escaped by the table, as the table's last column (rows after the entries, e.g. syncs in
 * progress, get an empty cell).
 */
export function addMetaColumn(entries: readonly { meta?: Meta }[], rows: Record<string, unknown>[], table: (string | number)[][], head: string[]): void {
  entries.forEach((e, i) => {
    if (e.meta && rows[i]) rows[i].meta = e.meta;
  });
  table.forEach((row, i) => {
    row.push(cut(entries[i]?.meta?.title ?? '', 60));
  });
  head.push('TITLE');
}
