/** syncer config path|get KEY|set KEY VALUE|unset KEY|list. Secrets are never printed. */
import { usageError } from '../../errors.js';
import { CONFIG_KEYS, isConfigKey, SECRET_KEYS, type ConfigKey } from '../../config/schema.js';
import { fromEnv, parseList } from '../../config/resolve.js';
import { getConfigKey, updateConfigKey } from '../../config/store.js';
import type { Runtime } from '../../runtime.js';

export interface ConfigOptions {
  action: 'path' | 'get' | 'set' | 'unset' | 'list';
  key?: string;
  value?: string;
}

function checkKey(key: string | undefined): ConfigKey {
  if (!key) throw usageError('missing KEY', `keys: ${Object.keys(CONFIG_KEYS).join(', ')}`);
  if (!isConfigKey(key)) throw usageError(`unknown config key ${JSON.stringify(key)}`, `keys: ${Object.keys(CONFIG_KEYS).join(', ')}`);
  return key;
}

const show = (key: string, value: unknown) => (value === undefined ? undefined : SECRET_KEYS.has(key) ? '********' : value);

/** Each key's effective value and where it comes from (defaults < file < env < flags). */
function effective(rt: Runtime): { key: string; value: unknown; source: string }[] {
  const env = fromEnv(rt.env);
  const cfg = rt.config as unknown as Record<string, unknown>;
  return (Object.keys(CONFIG_KEYS) as ConfigKey[]).map((key) => {
    const fileValue = getConfigKey(rt.fileConfig, key);
    const resolved = getConfigKey(cfg as never, key);
    const flag = key === 'etcd.hosts' ? rt.flags.etcdHosts : key === 'etcd.namespace' ? rt.flags.namespace : undefined;
    const source =
      flag !== undefined
        ? `flag --${key === 'etcd.hosts' ? 'etcd-hosts' : 'namespace'}`
        : env[key] !== undefined
          ? `env ${CONFIG_KEYS[key].env}`
          : fileValue !== undefined
            ? 'file'
            : resolved !== undefined
              ? 'default'
              : '';
    return { key, value: show(key, resolved), source };
  });
}

export async function run(rt: Runtime, options: ConfigOptions): Promise<void> {
  rt.createsConfig = true;
  switch (options.action) {
    case 'path':
      rt.out.result({ path: rt.configFile }, () => rt.configFile);
      return;
    case 'get': {
      const key = checkKey(options.key);
      const entry = effective(rt).find((e) => e.key === key)!;
      rt.out.result({ key, value: entry.value ?? null, source: entry.source || null }, () =>
        entry.value === undefined ? '' : Array.isArray(entry.value) ? entry.value.join(',') : String(entry.value),
      );
      return;
    }
    case 'set': {
      const key = checkKey(options.key);
      if (options.value === undefined) throw usageError('missing VALUE');
      const kind = CONFIG_KEYS[key].kind;
      const value = kind === 'list' ? parseList(options.value) : kind === 'number' ? Number(options.value) : options.value;
      // Not a number at all; its bounds are the schema's, checked (with the whole file) before writing.
      if (kind === 'number' && (options.value.trim() === '' || !Number.isFinite(value)))
        throw usageError(`invalid value for ${key}: expected a positive number (config not changed)`);
      await updateConfigKey(rt.configFile, key, value);
      rt.out.result({ key, value: show(key, value), path: rt.configFile }, () => `set ${key} in ${rt.configFile}`);
      return;
    }
    case 'unset': {
      const key = checkKey(options.key);
      await updateConfigKey(rt.configFile, key, undefined);
      rt.out.result({ key, path: rt.configFile }, () => `unset ${key} in ${rt.configFile}`);
      return;
    }
    case 'list': {
      const rows = effective(rt);
      rt.out.result(
        Object.fromEntries(rows.filter((r) => r.value !== undefined).map((r) => [r.key, r.value])),
        () =>
          `# ${rt.configFile}\n` +
          rt.out.table(
            ['KEY', 'VALUE', 'FROM'],
            rows.filter((r) => r.value !== undefined).map((r) => [r.key, Array.isArray(r.value) ? r.value.join(',') : String(r.value), r.source]),
          ),
      );
    }
  }
}
