/**
 * Charters and votes in the operator's own repository (git is the source of truth): the maintainer
 * who creates a charter, or whose signature makes a version take effect, commits it as
 * `.syncer/hubs/<hub>/charter-<version>.json`; a voter commits its latest vote on a dataset as
 * `.syncer/votes/<hub>/<date>/<operator>.json` (a pathspec commit of that file only); the next
 * `syncer sync` pushes them with the branch. Best effort: the registry already holds the value, so
 * a repository that cannot take the commit is a warning.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commitPaths } from '../../adapters/git-history.js';
import { makeDirs } from '../../adapters/dirs.js';
import type { CharterDoc } from '../../core/charter.js';
import type { DatasetId } from '../../core/keys.js';
import type { Runtime } from '../../runtime.js';

export const charterFile = (hub: string, version: number) => `.syncer/hubs/${hub}/charter-${String(version).padStart(8, '0')}.json`;
export const voteFile = (id: DatasetId) => `.syncer/votes/${id.hub}/${id.date}/${id.operator}.json`;

/** Write `file` (relative to the top of the configured repository) and commit it alone. */
export async function recordFile(rt: Runtime, file: string, value: unknown, message: string): Promise<void> {
  const repo = rt.config.repoPath;
  if (!repo) return;
  try {
    const { git } = rt.git(repo);
    const top = (await git.topLevel()) ?? repo;
    const path = join(top, file);
    makeDirs(dirname(path));
    writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
    await commitPaths(git, [file], message, 'the command');
    rt.out.info(`committed ${file} in ${top} (the next syncer sync pushes it)`);
  } catch (e) {
    rt.out.warn(`could not commit ${file} in ${repo} (${(e as Error).message}); the registry holds it`);
  }
}

export const recordCharter = (rt: Runtime, doc: CharterDoc) =>
  recordFile(rt, charterFile(doc.charter.hub, doc.charter.version), doc.raw, `charter of hub ${doc.charter.hub}, version ${doc.charter.version}`);
