/**
 * A charter version in the operator's own repository (git is the source of truth): the maintainer
 * who creates a charter, or whose signature makes a version take effect, commits it as
 * `.syncer/hubs/<hub>/charter-<version>.json` (a pathspec commit of that file only); the next
 * `syncer sync` pushes it with the branch. Best effort: the registry already holds the charter,
 * so a repository that cannot take the commit is a warning.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commitPaths } from '../../adapters/git-history.js';
import { makeDirs } from '../../adapters/dirs.js';
import type { CharterDoc } from '../../core/charter.js';
import type { Runtime } from '../../runtime.js';

export const charterFile = (hub: string, version: number) => `.syncer/hubs/${hub}/charter-${String(version).padStart(8, '0')}.json`;

export async function recordCharter(rt: Runtime, doc: CharterDoc): Promise<void> {
  const repo = rt.config.repoPath;
  if (!repo) return;
  const { hub, version } = doc.charter;
  const file = charterFile(hub, version);
  try {
    const { git } = rt.git(repo);
    const top = (await git.topLevel()) ?? repo;
    const path = join(top, file);
    makeDirs(dirname(path));
    writeFileSync(path, `${JSON.stringify(doc.raw, null, 2)}\n`);
    await commitPaths(git, [file], `charter of hub ${hub}, version ${version}`, `syncer hub`);
    rt.out.info(`committed ${file} in ${top} (the next syncer sync pushes it)`);
  } catch (e) {
    rt.out.warn(`could not commit ${file} in ${repo} (${(e as Error).message}); the registry holds the charter`);
  }
}
