import { defineCommand } from '../command.js';
import type { KeysOptions } from './index.js';

export const keysCommand = defineCommand<KeysOptions>({
  usage: 'keys <action>',
  describe: 'show | path | rotate | revoke your signing key',
  positionals: { action: { choices: ['show', 'path', 'rotate', 'revoke'] } },
  options: (a) => ({ action: a.string('action') as KeysOptions['action'] }),
  load: async () => (await import('./index.js')).run,
});
