import { defineCommand } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { LsOptions } from './index.js';

export const lsCommand = defineCommand<LsOptions>({
  usage: 'ls [hub] [date]',
  describe: "list hubs, a hub's dates, or one date's datasets",
  positionals: { hub: { describe: 'a hub: list its dates' }, date: { describe: 'YYYY-MM-DD or latest: list its datasets' } },
  flags: {
    all: { type: 'boolean', describe: 'also show syncs in progress (marked)' },
    accepted: { type: 'boolean', describe: "only datasets their hub's validators accepted" },
    ...trustFlags,
  },
  examples: ['$0 ls weather 2026-11-22 --json'],
  options: (a) => ({ hub: a.string('hub'), date: a.string('date'), all: a.boolean('all'), accepted: a.boolean('accepted'), ...trustOptions(a) }),
  load: async () => (await import('./index.js')).run,
});
