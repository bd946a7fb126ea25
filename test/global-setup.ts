/** One real etcd for the whole suite; each test world isolates itself with its own namespace. */
import type { TestProject } from 'vitest/node';
import { startCluster, type Cluster } from './helpers/etcd.js';

let cluster: Cluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startCluster(1);
  project.provide('etcdHosts', cluster.hosts);
}

export async function teardown(): Promise<void> {
  await cluster?.close();
}

declare module 'vitest' {
  export interface ProvidedContext {
    etcdHosts: string;
  }
}
