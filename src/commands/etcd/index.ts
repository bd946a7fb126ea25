/** syncer etcd start|stop|status: the embedded local etcd. */
import type { Runtime } from '../../runtime.js';

export interface EtcdOptions {
  action: 'start' | 'stop' | 'status';
}

export async function run(rt: Runtime, options: EtcdOptions): Promise<void> {
  const embedded = await rt.embedded();
  const configured = rt.config.etcd.hosts.length > 0;
  if (configured && options.action !== 'status') {
    rt.out.warn(`etcd.hosts is set (${rt.config.etcd.hosts.join(', ')}): commands use that cluster, not the embedded etcd`);
  }
  if (options.action === 'start') {
    const { endpoint, started } = await embedded.ensure();
    rt.out.result(
      { running: true, endpoint, started, dataDir: embedded.dataDir },
      () => `${started ? 'started' : 'already running'}: embedded etcd at ${endpoint} (data in ${embedded.dataDir})`,
    );
    return;
  }
  if (options.action === 'stop') {
    const stopped = await embedded.stop();
    rt.out.result({ stopped }, () => (stopped ? 'stopped the embedded etcd' : 'the embedded etcd was not running'));
    return;
  }
  const status = await embedded.status();
  rt.out.result({ ...status, usedByConfig: !configured }, () =>
    status.running
      ? `running: embedded etcd at ${status.endpoint} (pid ${status.pid}, data in ` +
        `${status.dataDir})${configured ? '\nnote: etcd.hosts is set, so commands use that cluster instead' : ''}`
      : configured
        ? `not running (data in ${status.dataDir}); etcd.hosts is set, so commands use that cluster and never start it`
        : `not running (data in ${status.dataDir}; commands start it on demand)`,
  );
}
