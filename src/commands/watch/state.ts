/**
 * Where a watcher keeps its position (the revision it acted up to, and the keys it knew): a file
 * in the per-user data dir (or --state), or, for a --group, a key in etcd written by the leader.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Registry } from '../../adapters/registry.js';
import { SyncerError } from '../../errors.js';
import type { Filter, Position } from './events.js';

export interface PositionStore {
  describe: string;
  load(): Promise<Position | undefined>;
  save(position: Position): Promise<void>;
}

function validPosition(p: unknown): Position | undefined {
  const v = p as Position;
  return v && typeof v.revision === 'string' && /^\d+$/.test(v.revision) && v.known && typeof v.known === 'object' ? v : undefined;
}

/** The default state file: one per registry, namespace and filter. */
export function defaultStateFile(dataDir: string, registryId: string, filter: Filter): string {
  const id = createHash('sha256').update(JSON.stringify([registryId, [...filter.hubs].sort(), [...filter.operators].sort()])).digest('hex').slice(0, 16);
  return join(dataDir, 'watch', `${id}.json`);
}

export function fileStore(file: string): PositionStore {
  return {
    describe: file,
    async load() {
      try {
        return validPosition(JSON.parse(readFileSync(file, 'utf8')));
      } catch {
        return undefined;
      }
    },
    async save(position) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, JSON.stringify(position));
      renameSync(tmp, file); // atomic: a crash leaves the old position, never half a file
    },
  };
}

/**
 * The position of a --group in etcd. `leader` guards every write: the position is written only
 * while the leader's election key (bound to its lease) still exists, so a leader that lost its
 * lease (paused, cut off) can never overwrite the position of the one that took over.
 */
export function groupStore(registry: Registry, group: string, leader?: { key: string; onLost: () => void }): PositionStore {
  const key = `${registry.keys.namespace}watch/groups/${group}/position`;
  return {
    describe: key,
    async load() {
      const kv = await registry.etcd.get(key);
      if (!kv) return undefined;
      try {
        return validPosition(JSON.parse(kv.value.toString()));
      } catch {
        return undefined;
      }
    },
    async save(position) {
      const client = registry.etcd.client;
      const value = JSON.stringify(position);
      const written = await registry.etcd.call(`watch position ${key}`, async () => {
        if (!leader) {
          await client.put(key).value(value);
          return true;
        }
        const res = await client.if(leader.key, 'Create', '>', 0).then(client.put(key).value(value)).commit();
        return res.succeeded;
      });
      if (!written) {
        leader!.onLost();
        throw new SyncerError('REGISTRY', `no longer the leader of watch group ${group}: its position was left to the new leader`);
      }
    },
  };
}
