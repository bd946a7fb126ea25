/**
 * Frictionless Data Package descriptors (`datapackage.json` in a dataset directory), pure: the one
 * line that says what is wrong with one (from the JSON Schema validator's findings), and the
 * summary that goes into the signed advertisement as `meta` (core/meta.ts), cut to WRITE_LIMITS.
 * Loading the schema and validating live in commands/sync/metadata.ts (only when a descriptor exists).
 */
import { cut, type Meta, WRITE_LIMITS } from './meta.js';

export const DESCRIPTOR_FILE = 'datapackage.json';
/** Larger descriptors are refused before parsing (a descriptor describes data; it does not hold it). */
export const MAX_DESCRIPTOR_BYTES = 4 * 1024 * 1024;

/** What a JSON Schema validator (ajv) reports, as far as the message needs it. */
export interface SchemaFinding {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/resources/0/name` as `resources[0].name`; the descriptor itself as `(descriptor)`. */
export function fieldName(pointer: string, child?: string): string {
  const parts =
    pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(descriptor)';
}

const show = (x: unknown) => cut(JSON.stringify(x) ?? 'nothing', 80);

/**
 * One line naming the field and what is wrong with it, from the validator's findings: the deepest
 * finding that is not the "matches none of the alternatives" summary; a resource with neither
 * `path` nor `data` says so.
 */
export function describeFindings(findings: readonly SchemaFinding[], value: unknown): string {
  if (findings.length === 0) return 'does not match the Data Package schema';
  const depth = (f: SchemaFinding) => (f.instancePath === '' ? 0 : f.instancePath.split('/').length);
  const ordered = [...findings].sort((a, b) => depth(b) - depth(a));
  const alternatives = ordered.find((f) => f.keyword === 'oneOf' || f.keyword === 'anyOf');
  const requiredAt = (path: string) => findings.filter((f) => f.keyword === 'required' && f.instancePath === path).map((f) => String(f.params.missingProperty));
  if (alternatives && depth(alternatives) === depth(ordered[0]!)) {
    const missing = requiredAt(alternatives.instancePath);
    if (missing.length > 1) return `field ${fieldName(alternatives.instancePath)}: needs one of ${[...new Set(missing)].join(', ')}`;
  }
  const f = ordered.find((x) => x.keyword !== 'oneOf' && x.keyword !== 'anyOf') ?? ordered[0]!;
  switch (f.keyword) {
    case 'required':
      return `field ${fieldName(f.instancePath, String(f.params.missingProperty))}: missing (required)`;
    case 'pattern':
      return `field ${fieldName(f.instancePath)}: ${show(valueAt(value, f.instancePath))} does not match ${String(f.params.pattern)}`;
    case 'type':
      return `field ${fieldName(f.instancePath)}: expected ${String(f.params.type)}, received ${show(valueAt(value, f.instancePath))}`;
    case 'format':
      return `field ${fieldName(f.instancePath)}: ${show(valueAt(value, f.instancePath))} is not a valid ${String(f.params.format)}`;
    case 'minItems':
      return `field ${fieldName(f.instancePath)}: expected at least ${String(f.params.limit)} item(s)`;
    default:
      return `field ${fieldName(f.instancePath)}: ${f.message ?? f.keyword}`;
  }
}

function valueAt(value: unknown, pointer: string): unknown {
  let x = value;
  if (pointer === '') return x;
  for (const p of pointer.slice(1).split('/')) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string, unknown>)[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return x;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
const list = (items: string[], each: number, count: number) => [...new Set(items.map((s) => cut(s.trim(), each)).filter((s) => s !== ''))].slice(0, count);

/**
 * The summary of a descriptor that passed the schema: title, description, keywords, licences (name,
 * else title, else path), resource names; each text and list cut to WRITE_LIMITS, empty ones left out.
 */
export function summarizeDescriptor(descriptor: unknown): Meta {
  const d = isObject(descriptor) ? descriptor : {};
  const meta: Meta = {};
  if (typeof d.title === 'string' && d.title.trim()) meta.title = cut(d.title.trim(), WRITE_LIMITS.title);
  if (typeof d.description === 'string' && d.description.trim()) meta.description = cut(d.description.trim(), WRITE_LIMITS.description);
  const keywords = list(strings(d.keywords), WRITE_LIMITS.keyword, WRITE_LIMITS.keywords);
  if (keywords.length) meta.keywords = keywords;
  const licenseNames = (Array.isArray(d.licenses) ? d.licenses : []).map((l) =>
    isObject(l) ? [l.name, l.title, l.path].find((x): x is string => typeof x === 'string' && x.trim() !== '') : undefined,
  );
  if (typeof d.license === 'string') licenseNames.push(d.license); // pre-1.0 descriptors
  const licenses = list(
    licenseNames.filter((x): x is string => x !== undefined),
    WRITE_LIMITS.license,
    WRITE_LIMITS.licenses,
  );
  if (licenses.length) meta.licenses = licenses;
  const resources = list(
    (Array.isArray(d.resources) ? d.resources : []).map((r) => (isObject(r) && typeof r.name === 'string' ? r.name : '')),
    WRITE_LIMITS.resource,
    WRITE_LIMITS.resources,
  );
  if (resources.length) meta.resources = resources;
  return meta;
}
