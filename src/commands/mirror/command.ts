import { defineCommand } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { MirrorOptions } from './index.js';

export const mirrorCommand = defineCommand<MirrorOptions>({
  usage: 'mirror',
  describe: 'keep an archive (a git repository) of advertised datasets',
  flags: {
    to: { type: 'string', required: true, describe: 'archive: a local path (created if missing) or a git URL' },
    hub: { type: 'string', array: true, describe: 'only these hubs (repeatable)' },
    operator: { type: 'string', array: true, describe: 'only these operators (repeatable)' },
    'initial-sync-limit': { type: 'number', default: 28, describe: 'first run for a hub: only its newest N dates' },
    'in-progress-timeout': { type: 'number', default: 120, describe: 'minutes before a run still in progress is recorded as unknown' },
    'allow-symlinks': { type: 'boolean', describe: 'archive datasets whose symbolic links lead out of them (refused by default)' },
    accepted: { type: 'boolean', describe: "only datasets their hub's validators accepted" },
    ...trustFlags,
  },
  examples: ['$0 mirror --to /srv/archive.git --hub weather'],
  options: (a) => ({
    to: a.string('to') ?? '',
    hubs: a.list('hub'),
    operators: a.list('operator'),
    initialSyncLimit: Number(a.number('initial-sync-limit')),
    inProgressTimeout: Number(a.number('in-progress-timeout')),
    allowSymlinks: a.boolean('allow-symlinks'),
    accepted: a.boolean('accepted'),
    ...trustOptions(a),
  }),
  load: async () => (await import('./index.js')).run,
});
