/**
 * Git remote URLs: what a remote is and its transport (one function, `classifyRemote`, for every
 * command), which transports are allowed, and how credentials are kept out of the registry.
 *
 * A remote the user gives (their own git remote, `--remote-url`, `reindex --remote`, a remotes
 * file) may be anything git accepts: a URL, an scp-like `user@host:path`, or a plain local path
 * (the file transport). A remote read from the registry is untrusted: git would happily run
 * `ext::sh -c ...` or take a URL starting with `-` as an option, so registry data must be a URL of
 * an allowed transport or scp-like, never a helper (`ext::`, `fd::`) or a bare path.
 */
import { isAbsolute, resolve } from 'node:path';

/** Always allowed. `allowedTransports` lists what is allowed in addition (today: `http`). */
export const DEFAULT_TRANSPORTS = ['https', 'ssh', 'git', 'file'] as const;
/** Every transport syncer knows; the config key accepts these. */
export const KNOWN_TRANSPORTS = ['https', 'http', 'ssh', 'git', 'file'] as const;
export const TRANSPORTS_KEY = 'allowedTransports';

/**
 * The transports in effect: the defaults plus those the config adds. An old config that lists
 * the defaults explicitly gives the same list.
 */
export function effectiveTransports(configured: readonly string[] = []): string[] {
  return [...new Set<string>([...DEFAULT_TRANSPORTS, ...configured])];
}

/** The command that allows `transport` (the one-line fix every refusal names). */
export const allowTransportCommand = (transport: string) => `syncer config set ${TRANSPORTS_KEY} ${transport}`;

const SCP_LIKE = /^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!\/\/)[^\s]+$/;

export interface RemoteCheck {
  ok: boolean;
  problem?: string;
  transport?: string;
  /** The remote as it is handed to git and advertised: a plain path becomes an absolute file:// URL. */
  url?: string;
  /** Set when the remote is refused only because its transport is not allowed (fixed by `fix`). */
  refusedTransport?: string;
  /** The command that would allow it, when that is the only problem. */
  fix?: string;
}

/** Does DEST name a remote (scheme:// or user@host:path) rather than a local path? */
export function isRemoteUrlLike(dest: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(dest) || /^[^/]+@[^/]+:/.test(dest);
}

export interface ClassifyOptions {
  /** Transports in effect (`Config.allowedTransports`); the defaults when not given. */
  allowed?: readonly string[];
  /**
   * A remote the user gave (not registry data): plain paths are accepted as the file transport,
   * resolved against `base` (the repository, or the working directory).
   */
  local?: { base: string };
}

/** What `url` is as a git remote, its transport, and whether we may hand it to git. */
export function classifyRemote(url: string, options: ClassifyOptions = {}): RemoteCheck {
  const allowed = options.allowed ?? DEFAULT_TRANSPORTS;
  if (url.length === 0 || url.length > 2048) return { ok: false, problem: 'remote is empty or too long' };
  if (url.startsWith('-')) return { ok: false, problem: 'remote begins with "-"' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(url)) return { ok: false, problem: 'remote contains spaces or control characters' };
  if (url.includes('::')) return { ok: false, problem: 'remote uses a "<transport>::" helper (ext::, fd::, ...)' };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  let transport: string;
  let normalized = url;
  if (scheme) {
    transport = scheme === 'git+ssh' || scheme === 'ssh+git' ? 'ssh' : scheme;
    if (!(KNOWN_TRANSPORTS as readonly string[]).includes(transport)) {
      return {
        ok: false,
        problem: `remote uses ${scheme}://, which syncer does not support (use https://, ssh://, git://, file://, user@host:path or a local path)`,
      };
    }
    if (transport === 'file' && !/^file:\/\/\//i.test(url)) return { ok: false, problem: 'file remotes must be absolute (file:///path)' };
  } else if (SCP_LIKE.test(url) && !url.startsWith('/') && !(options.local && /^\.{1,2}(\/|$)/.test(url))) {
    // git's own rule: a colon before the first slash makes it scp-like (host:path).
    transport = 'ssh';
  } else if (options.local) {
    transport = 'file';
    normalized = `file://${isAbsolute(url) ? url : resolve(options.local.base, url)}`;
  } else {
    return { ok: false, problem: 'remote is not a URL (use https://, ssh://, git://, file:// or user@host:path)' };
  }
  if (!allowed.includes(transport)) {
    const fix = allowTransportCommand(transport);
    return { ok: false, transport, refusedTransport: transport, fix, problem: `remote uses ${scheme ?? transport}://, which is not allowed: ${fix}` };
  }
  return { ok: true, transport, url: normalized };
}

/** Decide whether `url`, read from the registry or a tag (untrusted), is a remote we may hand to git. */
export function checkRemoteUrl(url: string, allowed: readonly string[] = DEFAULT_TRANSPORTS): RemoteCheck {
  return classifyRemote(url, { allowed });
}

/** The command that fixes every one of `problems` if they are all transport refusals, else undefined. */
export function transportFix(problems: readonly string[]): string | undefined {
  const fixes = new Set(problems.map((p) => new RegExp(`${allowTransportCommand('(\\w+)')}`).exec(p)?.[0]));
  if (fixes.size !== 1 || fixes.has(undefined)) return undefined;
  return [...fixes][0];
}

/**
 * The URL to advertise: credentials removed. https userinfo (user or token) goes entirely; an ssh
 * user name stays but any password goes. A bare local path becomes a file:// URL so peers get the
 * same (filter-capable) transport.
 */
export function publicRemoteUrl(url: string): string {
  if (url.startsWith('/')) return `file://${url}`;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/@]*@)?(.*)$/.exec(url);
  if (!m) return url;
  const [, scheme, userinfo, withQuery] = m as unknown as [string, string, string | undefined, string];
  // A query string or fragment is where tokens hide (`...git?token=...`); git does not need one to
  // clone, so it is never advertised.
  const rest = withQuery.replace(/[?#].*$/s, '');
  if (!userinfo) return `${scheme}://${rest}`;
  const lower = scheme.toLowerCase();
  if (lower === 'https' || lower === 'http') return `${scheme}://${rest}`;
  const user = userinfo.slice(0, -1).split(':')[0];
  return `${scheme}://${user}@${rest}`;
}

/** Mask credentials for display in messages (never print a password). */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, '$1***@').replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^?#]*)[?#].*$/s, '$1?***');
}
