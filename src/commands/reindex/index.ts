/** syncer reindex: rebuild the registry from the operators' git remotes. (being written) */
import { SyncerError } from '../../errors.js';
import type { Runtime } from '../../runtime.js';

export interface ReindexOptions {
  remotes: string[];
  remotesFile?: string;
  prune?: boolean;
  dryRun?: boolean;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export async function run(_rt: Runtime, _options: ReindexOptions): Promise<void> {
  throw new SyncerError('USAGE', 'reindex is not implemented yet');
}
