/**
 * When a remote cannot serve a partial fetch (only the dataset's files), retrieve downloads the
 * whole commit instead and says so once: why, how much, and the one server setting that avoids
 * it. Pure: the retrieve step feeds it git's messages and the remote's URL.
 */

export type PartialFetchFailure = 'no-filter' | 'no-single-objects' | 'dumb-http';

/** git's words that mean the server ignored --filter (it sent everything). */
export function filterIgnored(stderr: string): boolean {
  return /filtering not recognized by server/i.test(stderr);
}

/** git's words that mean the server refuses wants of single objects (protocol v0 without allowReachableSHA1InWant). */
export function singleObjectsRefused(message: string): boolean {
  return /unadvertised object|not our ref|allow-reachable-sha1-in-want|allowReachableSHA1InWant/i.test(message);
}

/** git's words for a dumb http server (static files): no shallow, no filter, no single objects. */
export function dumbHttp(message: string): boolean {
  return /dumb http transport does not support/i.test(message);
}

/** Why, and the server setting that would have made the fetch partial, for this remote. */
export function fallbackAdvice(failure: PartialFetchFailure, remote: string): { reason: string; setting: string } {
  if (failure === 'dumb-http') {
    return {
      reason: 'it is a dumb http server (static files)',
      setting: 'serving the repository with git http-backend (smart http) and `git config uploadpack.allowFilter true`',
    };
  }
  if (failure === 'no-filter') return { reason: 'it does not allow filters', setting: '`git config uploadpack.allowFilter true` in the repository' };
  const ssh = /^ssh:\/\/|^[^/:@]+@[^/:]+:|^[^/:]+:(?!\/\/)/.test(remote);
  return {
    reason: 'it speaks git protocol v0 and refuses requests for single objects',
    setting: ssh
      ? '`AcceptEnv GIT_PROTOCOL` in sshd_config (protocol v2) or `git config uploadpack.allowReachableSHA1InWant true` in the repository'
      : '`git config uploadpack.allowReachableSHA1InWant true` in the repository (or serving protocol v2)',
  };
}

/** 1536 -> "1.5 KiB", 10171187 -> "9.7 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = Math.max(0, bytes);
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

/** The one warning line (without "warning: "). */
export function fallbackWarning(remote: string, failure: PartialFetchFailure, bytes: number): string {
  const { reason, setting } = fallbackAdvice(failure, remote);
  const what = failure === 'dumb-http' ? 'the whole history' : 'the whole commit';
  return (
    `${remote} could not serve a partial fetch (${reason}): downloaded ${what} (${formatBytes(bytes)}) instead of the dataset's files only; on ` +
    `the server, ${setting} avoids this`
  );
}
