import { defineCommand } from '../command.js';
import type { ConfigOptions } from './index.js';

const actions = ['path', 'get', 'set', 'unset', 'list'] as const;

export const configCommand = defineCommand<ConfigOptions>({
  usage: 'config <action> [key] [value]',
  describe: 'config path | get KEY | set KEY VALUE | unset KEY | list',
  positionals: { action: { choices: actions }, key: {}, value: {} },
  options: (a) => ({ action: a.string('action') as ConfigOptions['action'], key: a.string('key'), value: a.string('value') }),
  load: async () => (await import('./index.js')).run,
});
