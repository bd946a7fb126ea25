/**
 * Git remote URLs: which transports are allowed, and how credentials are kept out of the registry.
 * A remote read from the registry is untrusted: git would happily run `ext::sh -c ...` or take a
 * URL starting with `-` as an option, so only the transports users expect are accepted.
 */
export const DEFAULT_TRANSPORTS = ['https', 'ssh', 'git', 'file'] as const;

const SCP_LIKE = /^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!\/\/)[^\s]+$/;

export interface RemoteCheck {
  ok: boolean;
  problem?: string;
  transport?: string;
}

/** Does DEST name a remote (scheme:// or user@host:path) rather than a local path? */
export function isRemoteUrlLike(dest: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(dest) || /^[^/]+@[^/]+:/.test(dest);
}

/** Decide whether `url` is a remote we may hand to git. */
export function checkRemoteUrl(url: string, allowed: readonly string[] = DEFAULT_TRANSPORTS): RemoteCheck {
  if (url.length === 0 || url.length > 2048) return { ok: false, problem: 'remote is empty or too long' };
  if (url.startsWith('-')) return { ok: false, problem: 'remote begins with "-"' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(url)) return { ok: false, problem: 'remote contains spaces or control characters' };
  if (url.includes('::')) return { ok: false, problem: 'remote uses a "<transport>::" helper (ext::, fd::, ...)' };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  let transport: string;
  if (scheme) {
    transport = scheme === 'git+ssh' || scheme === 'ssh+git' ? 'ssh' : scheme;
    if (transport === 'http') transport = 'https';
    if (scheme === 'http' && !allowed.includes('http')) {
      return { ok: false, problem: 'remote uses plain http (allowed: ' + allowed.join(', ') + ')' };
    }
  } else if (SCP_LIKE.test(url) && !url.startsWith('/')) {
    transport = 'ssh';
  } else {
    return { ok: false, problem: 'remote is not a URL (use https://, ssh://, git://, file:// or user@host:path)' };
  }
  if (!allowed.includes(transport)) {
    return { ok: false, problem: `remote transport "${transport}" is not allowed (allowed: ${allowed.join(', ')})` };
  }
  if (transport === 'file' && !/^file:\/\/\//i.test(url)) {
    return { ok: false, problem: 'file remotes must be absolute (file:///path)' };
  }
  return { ok: true, transport };
}

/**
 * The URL to advertise: credentials removed. https userinfo (user or token) goes entirely; an ssh
 * user name stays but any password goes. A bare local path becomes a file:// URL so peers get the
 * same (filter-capable) transport.
 */
export function publicRemoteUrl(url: string): string {
  if (url.startsWith('/')) return 'file://' + url;
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
