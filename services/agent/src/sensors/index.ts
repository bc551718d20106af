import { createFileSensor, type FileSensorOptions } from './file-sensor.js';
import { createNetworkSensor, type NetworkSensorOptions } from './network-sensor.js';
import { createProcessSensor, type ProcessSensorOptions } from './process-sensor.js';
import type { Sensor, SensorContext } from './sensor.js';

export type { FileChange, FileChangeDetail } from './file-changes.js';
export { createFileSensor, type FileSensorOptions } from './file-sensor.js';
export { createNetworkSensor, type NetworkSensorOptions } from './network-sensor.js';
export { createProcessSensor, type ProcessSensorOptions } from './process-sensor.js';
export type { Sensor, SensorContext } from './sensor.js';

export interface SensorsOptions {
  /** FILE: full rescan interval (default 60 s). */
  rescanMs?: FileSensorOptions['rescanMs'];
  /** FILE: progress of each silent baseline. */
  onBaselineProgress?: FileSensorOptions['onBaselineProgress'];
  /** PROCESS: /proc poll interval (default 1 s). */
  processPollMs?: number;
  /** NETWORK: /proc/net/tcp poll interval (default 2 s). */
  networkPollMs?: number;
  /** Default /proc. */
  procRoot?: string;
  /** PROCESS and NETWORK: command lines are cut to this many bytes before matching (default 4096). */
  cmdlineMaxBytes?: number;
}

/** All three sensors; give each update() the full rule list. */
export function createSensors(ctx: SensorContext, opts: SensorsOptions = {}): Sensor[] {
  const file: FileSensorOptions = {
    rescanMs: opts.rescanMs,
    onBaselineProgress: opts.onBaselineProgress,
  };
  const { procRoot, cmdlineMaxBytes } = opts;
  const proc: ProcessSensorOptions = { pollMs: opts.processPollMs, procRoot, cmdlineMaxBytes };
  const network: NetworkSensorOptions = { pollMs: opts.networkPollMs, procRoot, cmdlineMaxBytes };
  return [
    createFileSensor(ctx, file),
    createProcessSensor(ctx, proc),
    createNetworkSensor(ctx, network),
  ];
}
