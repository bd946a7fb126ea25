import { defineCommand } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { RetrieveOptions } from './index.js';

export const retrieveCommand = defineCommand<RetrieveOptions>({
  usage: 'retrieve',
  describe: 'check out an advertised dataset',
  flags: {
    hub: { type: 'string' },
    date: { type: 'string', describe: 'YYYY-MM-DD or latest' },
    operator: { type: 'string', describe: 'whose dataset (never defaults to you)' },
    into: { type: 'string', describe: 'target directory (default <importDir>/<hub>/<date>/<operator>)' },
    force: { type: 'boolean', describe: 'overwrite local modifications or a foreign target' },
    'allow-symlinks': { type: 'boolean', describe: 'take a dataset whose symbolic links lead out of it (refused by default)' },
    'allow-older': { type: 'boolean', describe: 'update a checkout to an older advertisement of the same hub/date/operator (refused by default)' },
    accepted: { type: 'boolean', describe: "only a dataset its hub's validators accepted (with --date latest: the newest accepted date)" },
    ...trustFlags,
  },
  examples: ['$0 retrieve --hub weather --date latest --operator lab-a'],
  options: (a) => ({
    hub: a.string('hub'),
    date: a.string('date'),
    operator: a.string('operator'),
    into: a.string('into'),
    force: a.boolean('force'),
    allowSymlinks: a.boolean('allow-symlinks'),
    allowOlder: a.boolean('allow-older'),
    accepted: a.boolean('accepted'),
    ...trustOptions(a),
  }),
  load: async () => (await import('./index.js')).run,
});
