import { defineCommand } from '../command.js';

export const doctorCommand = defineCommand<undefined>({
  usage: 'doctor',
  describe: 'check git, config, remote and etcd; say what to fix',
  options: () => undefined,
  load: async () => (await import('./index.js')).run,
});
