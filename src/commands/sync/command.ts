import { defineCommand } from '../command.js';
import type { SyncOptions } from './index.js';

export const syncCommand = defineCommand<SyncOptions>({
  usage: 'sync',
  describe: "commit, tag, push and advertise a hub's dataset",
  flags: {
    hub: { type: 'string', describe: 'what the dataset is about' },
    path: { type: 'string', describe: 'dataset directory in the repo (default <hub>/)' },
    message: { type: 'string', alias: 'm', describe: 'commit message (default "sync <hub> <date>")' },
  },
  examples: ['$0 sync --hub weather'],
  options: (a) => ({ hub: a.string('hub'), path: a.string('path'), message: a.string('message') }),
  load: async () => (await import('./index.js')).run,
});
