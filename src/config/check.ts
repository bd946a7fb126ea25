/**
 * Checking values against the one schema (schema.ts), wherever they come from. A refusal is exit 2
 * with one line naming the key, the value as given and its source (the file, the environment
 * variable or the flag), so the user knows what to fix and where.
 */
import { usageError } from '../errors.js';
import { CONFIG_KEYS, ENV_KNOBS, fileConfigSchema, isConfigKey, type ConfigKey, type EnvKnob, type FileConfig, type KeySpec } from './schema.js';

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

function refuse(label: string, shown: unknown, source: string, message: string, hint?: string) {
  return usageError(`invalid ${label} ${show(shown)} from ${source}: ${message}`, hint);
}

/**
 * Check one value of `key` (a list entry by entry). `raw` is what the user typed when it differs
 * from the parsed value (an environment variable's text), so the message quotes it.
 */
export function checkValue(key: ConfigKey, value: unknown, source: string, hint?: string, raw?: unknown): void {
  const spec: KeySpec = CONFIG_KEYS[key];
  if (spec.example) hint = `${hint ? `${hint}; ` : ''}e.g. ${spec.example}`;
  const entries = spec.kind === 'list' ? (Array.isArray(value) ? value : [value]) : [value];
  for (const entry of entries) {
    const r = spec.schema.safeParse(entry);
    if (!r.success) throw refuse(spec.entry ?? key, spec.kind === 'list' ? entry : (raw ?? entry), source, r.error.issues[0]!.message, hint);
  }
}

/** The whole config file; the first problem names the key (or what is wrong) and the file. */
export function validateFileConfig(raw: unknown, file: string): FileConfig {
  const parsed = fileConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.path.filter((p) => typeof p === 'string').join('.');
  const hint = 'fix it with `syncer config set KEY VALUE` (or `syncer config unset KEY`), or edit the file';
  if (isConfigKey(key) && issue.code !== 'unrecognized_keys') {
    let value: unknown = raw;
    for (const p of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p as PropertyKey];
    // The value at the issue's path (a list's entry): refused with the key's own message.
    checkValue(key, value, `config file ${file}`, hint.replaceAll('KEY', key));
  }
  const what =
    issue.code === 'unrecognized_keys'
      ? `unknown key ${issue.keys.map((k) => show([...issue.path, k].join('.'))).join(', ')}`
      : `${issue.path.join('.') || '(top level)'}: ${issue.message}`;
  throw usageError(`invalid config file ${file}: ${what}`, hint);
}

/** An environment-only numeric knob: its default when unset, else a bounded number (exit 2). */
export function envKnob<K extends EnvKnob>(env: NodeJS.ProcessEnv, name: K): (typeof ENV_KNOBS)[K]['default'] | number {
  const knob = ENV_KNOBS[name];
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return knob.default;
  const r = knob.schema.safeParse(Number(raw));
  if (!r.success)
    throw refuse(
      name,
      raw,
      'the environment',
      r.error.issues[0]!.message,
      `fix or unset ${name}${knob.default === undefined ? '' : ` (default ${knob.default})`}`,
    );
  return r.data;
}

/** Every environment-only knob, checked at once: a bad one stops any command before it starts work. */
export function checkEnvKnobs(env: NodeJS.ProcessEnv): void {
  for (const name of Object.keys(ENV_KNOBS) as EnvKnob[]) envKnob(env, name);
}
