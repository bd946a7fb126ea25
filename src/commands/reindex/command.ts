import { defineCommand } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { ReindexOptions } from './index.js';

export const reindexCommand = defineCommand<ReindexOptions>({
  usage: 'reindex',
  describe: "rebuild the registry from the operators' git remotes",
  flags: {
    remote: { type: 'string', array: true, describe: 'OPERATOR=URL to read (repeatable), besides the registered operators' },
    'remotes-file': { type: 'string', describe: 'file with one "operator url" a line' },
    prune: { type: 'boolean', describe: 'remove advertisements whose tag is gone (only for remotes read completely)' },
    'dry-run': { type: 'boolean', describe: 'show the plan, write nothing' },
    'from-mirror': { type: 'string', describe: 'rebuild from an archive made by syncer mirror (path or URL): entries then point at the archive' },
    ...trustFlags,
  },
  examples: ['$0 reindex --remotes-file remotes.txt --dry-run', '$0 reindex --from-mirror /srv/archive.git'],
  options: (a) => ({
    remotes: a.list('remote'),
    remotesFile: a.string('remotes-file'),
    prune: a.boolean('prune'),
    dryRun: a.boolean('dry-run'),
    fromMirror: a.string('from-mirror'),
    ...trustOptions(a),
  }),
  load: async () => (await import('./index.js')).run,
});
