import { escapeControl } from './sanitize.js';

export const DEFAULT_MAX_DATASET_BYTES = 20 * 1024 ** 3;
export const DEFAULT_MAX_DATASET_FILES = 1_000_000;
/** Links followed while resolving one target, like the kernel's ELOOP bound. */
const MAX_LINK_HOPS = 40;
/** Names shown in a refusal before "and N more". */
const SHOWN = 3;

export interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  /** Bytes (blobs, from `ls-tree -l`); undefined without -l or for non-blobs. */
  size?: number;
  /** Repository-relative path. */
  path: string;
}

/** Entries of `git ls-tree -r -z [-l]`. */
export function parseLsTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const record of out.split('\0')) {
    const m = /^(\d+) (\w+) ([0-9a-f]+)(?: +(\d+|-))?\t(.*)$/s.exec(record);
    if (!m) continue;
    const size = m[4] === undefined || m[4] === '-' ? undefined : Number(m[4]);
    entries.push({ mode: m[1]!, type: m[2]!, oid: m[3]!, ...(size === undefined ? {} : { size }), path: m[5]! });
  }
  return entries;
}

/** Files as `sync` counts them for the advertisement: every blob (links included), not submodules. */
export const isFile = (e: TreeEntry) => e.type === 'blob';
export const isLink = (e: TreeEntry) => e.type === 'blob' && e.mode === '120000';

// ---------------------------------------------------------------------------------------------
// Links

export interface EscapingLink {
  path: string;
  target: string;
}

/**
 * Where a path leads, resolving the tree's own links on the way (components relative to the
 * repository root), or undefined as soon as it leaves `dataset`. Lexical `..` alone is not enough:
 * `M -> d/e/L/..` with `d/e/L -> ../..` is lexically `d/e` but really the dataset's parent.
 */
function staysInside(start: string[], target: string, dataset: string[], links: ReadonlyMap<string, string>): boolean {
  if (target.startsWith('/')) return false; // absolute: names a file of the reader's machine
  const inside = (at: string[]) => at.length >= dataset.length && dataset.every((c, i) => at[i] === c);
  const pending = target.split('/');
  const at = [...start];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') at.pop();
    else at.push(c);
    if (!inside(at)) return false; // even a passage through the checkout's root (its .git/) counts
    const next = links.get(at.join('/'));
    if (next === undefined) continue;
    if (++hops > MAX_LINK_HOPS || next.startsWith('/')) return false; // a loop cannot be shown to stay inside
    at.pop();
    pending.unshift(...next.split('/'));
  }
  return true;
}

/**
 * The links (repository path -> target) that lead out of the dataset directory `datasetPath`,
 * directly or through other links. Links that stay inside (even dangling ones) are fine.
 */
export function escapingLinks(links: ReadonlyMap<string, string>, datasetPath: string): EscapingLink[] {
  const dataset = datasetPath.split('/').filter(Boolean);
  const out: EscapingLink[] = [];
  for (const [path, target] of links) {
    const dir = path.split('/').slice(0, -1);
    if (!staysInside(dir, target, dataset, links)) out.push({ path, target });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** "a -> /etc/x, b -> ../../y and 4 more", escaped for the terminal. */
export function describeLinks(links: EscapingLink[]): string {
  const shown = links.slice(0, SHOWN).map((l) => `${escapeControl(l.path)} -> ${escapeControl(l.target)}`);
  return shown.join(', ') + (links.length > SHOWN ? ` and ${links.length - SHOWN} more` : '');
}

/** The refusal of a dataset with escaping links (message and hint), or undefined. */
export function linksProblem(links: EscapingLink[], what: string): { message: string; hint: string } | undefined {
  if (links.length === 0) return undefined;
  return {
    message:
      `refusing ${what}: ${links.length} symbolic link${links.length === 1 ? '' : 's'} lead${links.length === 1 ? 's' : ''} out of the dataset ` +
      `(${describeLinks(links)}); a program reading the data would read those files of this machine instead`,
    hint:
      'ask the operator to replace the links with the files themselves; if you trust the data, pass --allow-symlinks (the links are then checked ' +
      'out as they are)',
  };
}

// ---------------------------------------------------------------------------------------------
// Sizes

export interface ContentLimits {
  maxBytes: number;
  maxFiles: number;
}

export interface Size {
  files: number;
  bytes: number;
}

const LIMIT_KEYS = {
  maxBytes: { key: 'maxDatasetBytes', env: 'SYNCER_MAX_DATASET_BYTES' },
  maxFiles: { key: 'maxDatasetFiles', env: 'SYNCER_MAX_DATASET_FILES' },
} as const;

/** The reader's limits: config maxDatasetBytes / maxDatasetFiles (or their environment variables, validated with the config), else the defaults. */
export function contentLimits(config: { maxDatasetBytes?: number; maxDatasetFiles?: number }): ContentLimits {
  return { maxBytes: config.maxDatasetBytes ?? DEFAULT_MAX_DATASET_BYTES, maxFiles: config.maxDatasetFiles ?? DEFAULT_MAX_DATASET_FILES };
}

const human = (bytes: number) =>
  bytes >= 1024 ** 3
    ? `${(bytes / 1024 ** 3).toFixed(1)} GiB`
    : bytes >= 1024 ** 2
      ? `${(bytes / 1024 ** 2).toFixed(1)} MiB`
      : bytes >= 1024
        ? `${(bytes / 1024).toFixed(1)} KiB`
        : `${bytes} bytes`;

/** Over a limit: the refusal names the limit and how to raise it. */
export function limitProblem(size: Partial<Size>, limits: ContentLimits, what: string): { message: string; hint: string } | undefined {
  const over = (['maxFiles', 'maxBytes'] as const).find((k) => {
    const n = k === 'maxFiles' ? size.files : size.bytes;
    return n !== undefined && n > limits[k];
  });
  if (!over) return undefined;
  const { env, key } = LIMIT_KEYS[over];
  const has = over === 'maxFiles' ? `${size.files} files` : `${size.bytes} bytes (${human(size.bytes!)})`;
  const limit = over === 'maxFiles' ? `${limits.maxFiles} files` : `${limits.maxBytes} bytes (${human(limits.maxBytes)})`;
  return {
    message: `refusing ${what}: it has ${has}, over this machine's limit of ${limit} (${env})`,
    hint:
      `if you expect a dataset this large, raise the limit: syncer config set ${key} ${over === 'maxFiles' ? size.files : size.bytes!} (or ` +
      `${env}=${over === 'maxFiles' ? size.files : size.bytes!} for one run)`,
  };
}

/**
 * The tree disagrees with the signed advertisement: the operator's key vouched for a size the data
 * does not have, so the entry is not what it says. `actual.bytes` may be unknown (before the blobs).
 */
export function mismatchProblem(actual: Partial<Size>, advertised: Size, what: string): { message: string; hint: string } | undefined {
  const files = actual.files !== undefined && actual.files !== advertised.files;
  const bytes = actual.bytes !== undefined && actual.bytes !== advertised.bytes;
  if (!files && !bytes) return undefined;
  const parts = [files && `${actual.files} files (advertised ${advertised.files})`, bytes && `${actual.bytes} bytes (advertised ${advertised.bytes})`].filter(
    Boolean,
  );
  return {
    message: `refusing ${what}: its tree has ${parts.join(' and ')}; the advertisement does not describe the data`,
    hint: 'the entry is not trustworthy; if the operator re-synced a moment ago, run the command again',
  };
}

// ---------------------------------------------------------------------------------------------
// git cat-file --batch

/**
 * Contents of `git cat-file --batch` output for these objects, in order; undefined when the
 * framing cannot be trusted (text that was not UTF-8 was decoded with replacement characters, so
 * byte sizes no longer match): the caller then reads the objects one by one.
 */
export function parseCatFileBatch(out: string, oids: string[]): Map<string, string> | undefined {
  if (out.includes('\uFFFD')) return undefined;
  const buf = Buffer.from(out, 'utf8');
  const contents = new Map<string, string>();
  let at = 0;
  for (const oid of oids) {
    const eol = buf.indexOf(0x0a, at);
    if (eol < 0) return undefined;
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(buf.subarray(at, eol).toString('utf8'));
    if (!m || m[1] !== oid) return undefined;
    const size = Number(m[2]);
    contents.set(oid, buf.subarray(eol + 1, eol + 1 + size).toString('utf8'));
    at = eol + 1 + size + 1; // content, then a newline
  }
  return contents;
}
