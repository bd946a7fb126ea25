/**
 * Quorum lost (3-member cluster, 2 members stopped): the error says the cluster has no leader
 * (quorum lost), not "connection refused", although one member still answers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { World, type Operator } from '../helpers/world.js';
import { startCluster, type Cluster } from '../helpers/etcd.js';
import { kill9, leaderIndex } from '../helpers/cluster-helpers.js';

let cluster: Cluster;
let world: World;
let a: Operator;

beforeAll(async () => {
  cluster = await startCluster(3);
  world = new World(cluster.hosts);
  a = await world.operator('lab-a');
}, 120_000);
afterAll(async () => {
  await cluster?.close();
  world?.cleanup();
});

it('with 2 of 3 members stopped, commands say the cluster has no leader (quorum lost), not "connection refused"', async () => {
  const leader = await leaderIndex(cluster);
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  await Promise.all([kill9(cluster, leader), kill9(cluster, follower)]);
  for (const args of [['ls', 'weather'], ['ls']]) {
    const r = await a.syncer(args, { env: { SYNCER_ETCD_TIMEOUT_MS: '4000' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no leader \(quorum lost/);
    expect(r.stderr).not.toMatch(/connection refused/);
  }
}, 120_000);
