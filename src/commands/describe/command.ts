import { defineCommand } from '../command.js';
import type { DescribeOptions } from './index.js';

export const describeCommand = defineCommand<DescribeOptions>({
  usage: 'describe [path]',
  describe: 'write a starter datapackage.json for a dataset directory (resources and table schemas inferred from its CSV files)',
  positionals: { path: { describe: 'the dataset directory (default: the current directory)' } },
  flags: { force: { type: 'boolean', describe: 'replace an existing datapackage.json' } },
  examples: ['$0 describe weather', '$0 describe ~/data/weather --force --json'],
  options: (a) => ({ path: a.string('path'), force: a.boolean('force') }),
  load: async () => (await import('./index.js')).run,
});
