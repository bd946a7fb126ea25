/** syncer vote HUB DATE OPERATOR --valid|--invalid [--reason TEXT] (issue 13). */
import { defineCommand } from '../command.js';
import { usageError } from '../../errors.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { VoteOptions } from './index.js';

export const voteCommand = defineCommand<VoteOptions>({
  usage: 'vote <hub> <date> <operator>',
  describe: "sign your verdict on an advertised dataset (bound to its commit); a hub's validators decide its validity",
  positionals: { hub: { describe: 'the hub' }, date: { describe: 'YYYY-MM-DD' }, operator: { describe: 'whose dataset' } },
  flags: {
    valid: { type: 'boolean', describe: 'the dataset is good' },
    invalid: { type: 'boolean', describe: 'the dataset is not good' },
    reason: { type: 'string', describe: 'why (kept with the vote, at most 2,000 characters)' },
    ...trustFlags,
  },
  examples: ['$0 vote weather 2026-11-22 lab-a --valid', '$0 vote weather 2026-11-22 lab-a --invalid --reason "column t is empty"'],
  options: (a) => {
    const valid = !!a.boolean('valid');
    const invalid = !!a.boolean('invalid');
    if (valid === invalid) throw usageError(valid ? '--valid and --invalid contradict each other' : 'say --valid or --invalid');
    return {
      hub: a.string('hub') ?? '',
      date: a.string('date') ?? '',
      operator: a.string('operator') ?? '',
      verdict: valid ? 'valid' : 'invalid',
      reason: a.string('reason'),
      ...trustOptions(a),
    };
  },
  load: async () => (await import('./index.js')).run,
});
