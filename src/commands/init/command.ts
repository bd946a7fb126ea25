import { defineCommand } from '../command.js';
import type { InitOptions } from './index.js';

export const initCommand = defineCommand<InitOptions>({
  usage: 'init',
  describe: 'set up the config (checks repo, remote and etcd before writing)',
  flags: {
    operator: { type: 'string', describe: 'your operator name' },
    repo: { type: 'string', describe: 'local git repository holding your data' },
    remote: { type: 'string', describe: 'git remote to push to (default origin)' },
    'remote-url': { type: 'string', describe: 'URL peers clone from, if not the push URL' },
    'import-dir': { type: 'string', describe: 'where retrieved data goes' },
    embedded: { type: 'boolean', describe: 'use the embedded local etcd (local only)' },
  },
  examples: ['$0 init --operator lab-a --repo ~/data --import-dir ~/imports --embedded'],
  options: (a) => ({
    operator: a.string('operator'),
    repo: a.string('repo'),
    remote: a.string('remote'),
    remoteUrl: a.string('remote-url'),
    importDir: a.string('import-dir'),
    embedded: a.boolean('embedded'),
  }),
  load: async () => (await import('./index.js')).run,
});
