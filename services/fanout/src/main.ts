import { runFanout } from './run-fanout.js';

await runFanout();
