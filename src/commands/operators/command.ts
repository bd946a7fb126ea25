import { defineCommand } from '../command.js';
import type { OperatorsOptions } from './index.js';

export const operatorsCommand = defineCommand<OperatorsOptions>({
  usage: 'operators [action] [operator] [fingerprint]',
  describe: 'registered operators, their key fingerprints and whether you pinned them; pin OPERATOR FINGERPRINT pins a key you checked',
  positionals: { action: { choices: ['list', 'pin'], default: 'list' }, operator: {}, fingerprint: {} },
  options: (a) => ({ action: a.string('action') as OperatorsOptions['action'], operator: a.string('operator'), fingerprint: a.string('fingerprint') }),
  load: async () => (await import('./index.js')).run,
});
