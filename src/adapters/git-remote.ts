/**
 * git talking to a remote: listing its refs, fetching refs (whole, shallow, or without blobs or
 * trees), fetching objects by id, pushing. All through the runner's transfer (progress asked for,
 * a stall deadline by bytes moved, git's reason and its fix on failure); `proto` carries the
 * transports git itself may use (protocolArgs).
 */
import type { Git, GitTransferResult } from './git.js';
import { unsetConfigIfSet } from './git-repo.js';

export interface RemoteOptions {
  /** `-c` options for this command: the allowed transports (protocolArgs). */
  proto?: string[];
  /** What failed, in the error ("git fetch of X from Y"). */
  what: string;
}

export interface LsRemoteOptions extends RemoteOptions {
  /** Branches only (`--heads`), or no peeled tags (`--refs`). */
  only?: 'heads' | 'refs';
  patterns?: string[];
}

/** `git ls-remote`: the remote's refs, one "<id>\t<ref>" per line. */
export async function lsRemote(git: Git, remote: string, options: LsRemoteOptions): Promise<string> {
  const only = options.only ? [`--${options.only}`] : [];
  return (await git.transfer([...(options.proto ?? []), 'ls-remote', ...only, '--', remote, ...(options.patterns ?? [])], { what: options.what })).stdout;
}

export interface FetchOptions extends RemoteOptions {
  /** Shallow: the tips only. */
  depth?: number;
  /** A partial fetch: 'blob:none' (trees, no blobs) or 'tree:0' (commits and tags only). */
  filter?: 'blob:none' | 'tree:0';
  /** Fetch again what is already here (`--refetch`: leaves a partial clone whole). */
  refetch?: boolean;
  /** Leave FETCH_HEAD alone (default: written, as git does). */
  noFetchHead?: boolean;
}

/** `git fetch` of these refspecs, never tags beyond them. git's messages (warnings) come back in `stderr`. */
export async function fetchRefs(git: Git, remote: string, refspecs: string[], options: FetchOptions): Promise<GitTransferResult> {
  const flags = [
    '--no-tags',
    ...(options.noFetchHead ? ['--no-write-fetch-head'] : []),
    ...(options.filter ? [`--filter=${options.filter}`] : []),
    ...(options.depth ? [`--depth=${options.depth}`] : []),
    ...(options.refetch ? ['--refetch'] : []),
  ];
  return git.transfer([...(options.proto ?? []), 'fetch', ...flags, '--', remote, ...refspecs], { what: options.what });
}

/**
 * Exactly these objects, by id (what a blob-less clone's lazy fetch would ask for, but explicit
 * and checked). No negotiation: the remote must not assume we hold the blobs of the commits we hold.
 */
export async function fetchObjects(git: Git, remote: string, oids: string[], options: RemoteOptions & { filter?: 'blob:none' }): Promise<void> {
  const filter = options.filter ? [`--filter=${options.filter}`] : [];
  const args = [...(options.proto ?? []), '-c', 'fetch.negotiationAlgorithm=noop', 'fetch', '--no-tags', '--no-write-fetch-head', ...filter, '--stdin', remote];
  await git.transfer(args, { what: options.what, input: `${oids.join('\n')}\n` });
}

/** Forget that `remote` is a partial clone's promisor (a next fetch would apply its filter again). */
export async function forgetPromisor(git: Git, remote: string): Promise<void> {
  await unsetConfigIfSet(git, [`remote.${remote}.promisor`, `remote.${remote}.partialclonefilter`]);
}

/** `git push` of these refspecs; `atomic`: all or none (`--porcelain` then reports refused refs on stdout). */
export async function pushRefs(git: Git, remote: string, refspecs: string[], options: RemoteOptions & { atomic?: boolean }): Promise<void> {
  const atomic = options.atomic ? ['--porcelain', '--atomic'] : [];
  await git.transfer([...(options.proto ?? []), 'push', ...atomic, '--', remote, ...refspecs], { what: options.what });
}
