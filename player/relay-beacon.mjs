// FunctionsRelay player beacons as an ES module: import { track } from './relay-beacon.mjs';
import './relay-beacon.js';

const FunctionsRelay = globalThis.FunctionsRelay;
export const track = FunctionsRelay.track;
export const version = FunctionsRelay.version;
export default FunctionsRelay;
