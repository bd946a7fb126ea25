/** Where a source keeps its records and its state, read and checked the same way by pull and push. */
import { join } from 'node:path';
import { ensureContent } from '../adapters/lfs.js';
import { dataFile, stateFile, type Definition } from './core/definitions.js';
import { parseState, type SourceState } from './core/records.js';
import { ensureClean, readText, type Repo } from './repo.js';

export interface SourceFiles {
  rel: string;
  abs: string;
  stateRel: string;
  stateText: string | undefined;
  state: SourceState;
}

/** The files and state of the source, checked: no uncommitted edits, records rather than a git-lfs pointer. */
export async function openSourceFiles(repo: Repo, name: string, def: Definition): Promise<SourceFiles> {
  const rel = dataFile(name, def);
  const stateRel = stateFile(name);
  await ensureClean(repo.git, [rel, stateRel]);
  await ensureContent(repo.git, repo.top, rel);
  const stateText = readText(join(repo.top, stateRel));
  return { rel, abs: join(repo.top, rel), stateRel, stateText, state: parseState(stateText) };
}
