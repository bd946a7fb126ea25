/**
 * `reindex --from-mirror DEST`: read an archive made by `syncer mirror` as if it were every
 * operator's remote. Its tags are the operators' own tag objects under
 * refs/tags/<operator>/<hub>/<date>; each operator's record comes from `.syncer/operator.json` at
 * its newest archived commit. Advertisements then point at the archive (their signatures do not
 * cover the remote, so they still verify).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SyncerError, usageError } from '../../errors.js';
import { isDate, isName } from '../../core/names.js';
import { checkRemoteUrl, isRemoteUrlLike, redactUrl } from '../../core/remote-url.js';
import type { Runtime } from '../../runtime.js';
import { readTagObjects, type RemoteRead } from './read-remote.js';
import { protocolArgs } from '../../adapters/git.js';
import { TAG_REF_PREFIX, type RawTag } from './verify.js';
import { initBare, isRepositoryRoot } from '../../adapters/git-repo.js';
import { listRefs, readLocalFile } from '../../adapters/git-objects.js';
import { fetchRefs } from '../../adapters/git-remote.js';

async function readArchive(rt: Runtime, dir: string, url: string): Promise<RemoteRead[]> {
  const { git } = rt.git(dir);
  const byOperator = new Map<string, (RawTag & { date: string; commit: string })[]>();
  for (const { id, type, size, ref, peeled } of await listRefs(git, 'refs/tags/')) {
    const m = /^refs\/tags\/([^/]+)\/([^/]+)\/([^/\s]+)$/.exec(ref);
    if (!m) continue;
    const [, operator, hub, date] = m as unknown as [string, string, string, string];
    if (operator === 'syncer' || !isName(operator) || !isName(hub) || !isDate(date)) continue;
    const list = byOperator.get(operator) ?? [];
    list.push({ id, type, size, ref: `${TAG_REF_PREFIX}${hub}/${date}`, date, commit: peeled });
    byOperator.set(operator, list);
  }
  const reads: RemoteRead[] = [];
  for (const [operator, tags] of byOperator) {
    await readTagObjects(rt, dir, tags);
    const newest = [...tags].sort((a, b) => (a.date < b.date ? 1 : -1))[0]!;
    const record = newest.commit ? await readLocalFile(git, newest.commit, '.syncer/operator.json') : undefined;
    reads.push({
      target: { operator, url, source: 'mirror' },
      ok: true,
      tags,
      record: record !== undefined ? { text: record } : { problem: 'no .syncer/operator.json in the archived commits' },
    });
  }
  return reads;
}

export async function readMirror(rt: Runtime, dest: string): Promise<{ url: string; reads: RemoteRead[] }> {
  if (!isRemoteUrlLike(dest)) {
    const path = resolve(rt.deps.cwd, dest);
    if (!existsSync(path) || !(await isRepositoryRoot(rt.git(path).git, path)))
      throw usageError(`--from-mirror ${dest}: not a git repository (an archive made by syncer mirror)`);
    return { url: `file://${path}`, reads: await readArchive(rt, path, `file://${path}`) };
  }
  const check = checkRemoteUrl(dest, rt.config.allowedTransports);
  if (!check.ok) throw usageError(`--from-mirror ${redactUrl(dest)}: ${check.problem}`);
  const dir = mkdtempSync(join(tmpdir(), 'syncer-mirror-read-'));
  try {
    const { git } = rt.git(dir);
    await initBare(git);
    const proto = protocolArgs(rt.config.allowedTransports);
    await fetchRefs(git, dest, ['+refs/tags/*:refs/tags/*'], { proto, what: `git fetch from the archive ${redactUrl(dest)}` });
    return { url: dest, reads: await readArchive(rt, dir, dest) };
  } catch (e) {
    if (e instanceof SyncerError) throw e;
    throw new SyncerError('REMOTE', `cannot read the archive ${redactUrl(dest)}: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
