import { defineCommand } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { SearchOptions } from './index.js';

export const searchCommand = defineCommand<SearchOptions>({
  usage: 'search [query]',
  describe: 'find datasets by what they are about: title, keywords, description, hub and resource names (verified entries only)',
  positionals: { query: { describe: 'words that must all match (none: every dataset)' } },
  flags: {
    hub: { type: 'string', describe: 'only this hub' },
    operator: { type: 'string', describe: 'only this operator' },
    license: { type: 'string', describe: 'only datasets under this licence (e.g. CC-BY-4.0; case-insensitive)' },
    since: { type: 'string', describe: 'only dates on or after YYYY-MM-DD' },
    limit: { type: 'number', default: 50, describe: 'at most this many results' },
    ...trustFlags,
  },
  examples: ['$0 search precipitation', '$0 search "rain gauges" --license CC-BY-4.0 --since 2026-01-01 --json'],
  options: (a) => ({
    query: a.string('query'),
    hub: a.string('hub'),
    operator: a.string('operator'),
    license: a.string('license'),
    since: a.string('since'),
    limit: a.number('limit'),
    ...trustOptions(a),
  }),
  load: async () => (await import('./index.js')).run,
});
