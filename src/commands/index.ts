/** Every command, in the order `syncer --help` lists them. Each is a small declaration: nothing heavy loads here. */
import { configCommand } from './config/command.js';
import { doctorCommand } from './doctor/command.js';
import { etcdCommand } from './etcd/command.js';
import { initCommand } from './init/command.js';
import { keysCommand } from './keys/command.js';
import { lsCommand } from './ls/command.js';
import { mirrorCommand } from './mirror/command.js';
import { operatorsCommand } from './operators/command.js';
import { reindexCommand } from './reindex/command.js';
import { retrieveCommand } from './retrieve/command.js';
import { sourceCommand } from './source/command.js';
import { syncCommand } from './sync/command.js';
import { watchCommand } from './watch/command.js';

export const commands = [
  initCommand,
  syncCommand,
  retrieveCommand,
  lsCommand,
  configCommand,
  reindexCommand,
  watchCommand,
  mirrorCommand,
  sourceCommand,
  operatorsCommand,
  keysCommand,
  doctorCommand,
  etcdCommand,
];
