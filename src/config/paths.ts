/**
 * Per-user directories, computed from the environment we were given (not process.env), so a test
 * or a second user gets its own config, keys and embedded etcd.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface UserPaths {
  configDir: string;
  dataDir: string;
  /** What can be recomputed (the signatures already verified). */
  cacheDir: string;
  defaultConfigFile: string;
}

export function userPaths(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): UserPaths {
  const home = env.HOME || homedir();
  let configBase: string;
  let dataBase: string;
  let cacheBase: string;
  if (platform === 'darwin') {
    configBase = join(home, 'Library', 'Preferences');
    dataBase = join(home, 'Library', 'Application Support');
    cacheBase = join(home, 'Library', 'Caches');
  } else if (platform === 'win32') {
    configBase = env.APPDATA || join(home, 'AppData', 'Roaming');
    dataBase = env.LOCALAPPDATA || join(home, 'AppData', 'Local');
    cacheBase = join(dataBase, 'Cache');
  } else {
    configBase = env.XDG_CONFIG_HOME || join(home, '.config');
    dataBase = env.XDG_DATA_HOME || join(home, '.local', 'share');
    cacheBase = env.XDG_CACHE_HOME || join(home, '.cache');
  }
  const configDir = join(configBase, 'syncer');
  return { configDir, dataDir: join(dataBase, 'syncer'), cacheDir: join(cacheBase, 'syncer'), defaultConfigFile: join(configDir, 'config.json') };
}
