/**
 * sync's metadata step (issue 14): a dataset's `datapackage.json`, if it has one, must be a valid
 * Data Package (validated against the vendored JSON Schema, schemas/datapackage/, with ajv: both
 * loaded only when a descriptor exists, start-up being part of the product); its summary goes into
 * the signed advertisement as `meta`. A bad descriptor is exit 2 naming the field, before anything
 * is committed, pushed or advertised.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { usageError } from '../../errors.js';
import { DESCRIPTOR_FILE, describeFindings, MAX_DESCRIPTOR_BYTES, type SchemaFinding, summarizeDescriptor } from '../../core/datapackage.js';
import type { Meta } from '../../core/meta.js';
import { escapeControl } from '../../core/sanitize.js';

type Validate = ((value: unknown) => boolean) & { errors?: SchemaFinding[] | null };

let validator: Validate | undefined;

/** The Data Package schema, compiled once per process (ajv and the schema are read only here). */
export function descriptorValidator(): Validate {
  if (validator) return validator;
  const require = createRequire(import.meta.url);
  const Ajv = (require('ajv') as { default: new (o: object) => { compile: (s: object) => Validate; addFormat: (name: string, f: boolean) => void } }).default;
  const addFormats = (require('ajv-formats') as { default: (ajv: unknown) => void }).default;
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/datapackage/data-package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  // Written for draft-04, with no keyword whose meaning differs in draft-07 (schemas/datapackage/README.md).
  delete schema.$schema;
  // validateSchema: the vendored schema is checked against JSON Schema's meta-schema by a unit test, not at each run.
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateSchema: false });
  addFormats(ajv);
  ajv.addFormat('textarea', true); // an editor hint of the schema, not a constraint
  validator = ajv.compile(schema);
  return validator;
}

/** Why `descriptor` is not a valid Data Package (one line, naming the field), or undefined. */
export function descriptorProblem(descriptor: unknown): string | undefined {
  const validate = descriptorValidator();
  if (validate(descriptor)) return undefined;
  return escapeControl(describeFindings(validate.errors ?? [], descriptor));
}

/**
 * The `meta` summary of the dataset at `path` (relative to the checkout `top`), or undefined when it
 * has no datapackage.json; exit 2 when it has one that is not a valid Data Package.
 */
export function datasetMeta(top: string, path: string): Meta | undefined {
  const rel = `${path}/${DESCRIPTOR_FILE}`;
  const file = join(top, path, DESCRIPTOR_FILE);
  let size: number;
  try {
    const st = lstatSync(file);
    if (!st.isFile()) throw usageError(`${rel} is not a regular file`, 'a Data Package descriptor must be a plain JSON file in the dataset directory');
    size = st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const fix = `fix ${rel} (syncer describe ${path} --force writes a starter one), or remove it; nothing was committed`;
  if (size > MAX_DESCRIPTOR_BYTES) throw usageError(`${rel} is ${size} bytes (limit ${MAX_DESCRIPTOR_BYTES})`, fix);
  let descriptor: unknown;
  try {
    descriptor = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw usageError(`${rel} is not JSON: ${escapeControl((e as Error).message)}`, fix);
  }
  const problem = descriptorProblem(descriptor);
  if (problem) throw usageError(`${rel} is not a valid Data Package: ${problem}`, fix);
  return summarizeDescriptor(descriptor);
}
