/** syncer watch: follow the registry and act on each new advertisement. (being written) */
import { SyncerError } from '../../errors.js';
import type { Runtime } from '../../runtime.js';

export interface WatchOptions {
  hubs: string[];
  operators: string[];
  fromStart?: boolean;
  state?: string;
  retrieve?: boolean;
  exec?: string[];
  eventsLog?: string;
  replay?: string;
  group?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export async function run(_rt: Runtime, _options: WatchOptions): Promise<void> {
  throw new SyncerError('USAGE', 'watch is not implemented yet');
}
