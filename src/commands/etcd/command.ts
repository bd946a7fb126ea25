import { defineCommand } from '../command.js';
import type { EtcdOptions } from './index.js';

export const etcdCommand = defineCommand<EtcdOptions>({
  usage: 'etcd <action>',
  describe: 'start | stop | status of the embedded local etcd',
  positionals: { action: { choices: ['start', 'stop', 'status'] } },
  options: (a) => ({ action: a.string('action') as EtcdOptions['action'] }),
  load: async () => (await import('./index.js')).run,
});
