/** The command's runtime as src/sources/ takes it: the configured repository, and the run's io. */
import type { Runtime } from '../../runtime.js';
import type { SourceIo } from '../../sources/io.js';
import { openRepo, type Repo } from '../../sources/repo.js';

export function sourceIo(rt: Runtime): SourceIo {
  return {
    env: rt.env,
    signal: rt.deps.signal,
    now: () => rt.now(),
    info: (m) => rt.out.info(m),
    warn: (m) => rt.out.warn(m),
    debug: (m) => rt.out.debug(m),
  };
}

export function openSourceRepo(rt: Runtime): Promise<Repo> {
  return openRepo(rt.config.repoPath, (dir) => rt.git(dir).git);
}
