import { mulberry32, type Random } from '../sources/camera/prng.js';

/*
 * The signals of a pump with a motor and a bearing, as a condition-monitoring retrofit
 * would see them: vibration velocity (mm/s RMS), bearing temperature (°C), discharge
 * pressure (bar) and motor current (A), plus a part-present bit and the part's id from
 * the line's PLC. Faults are injected per signal; drift makes a slow bearing wear.
 */

export const PLANT_SIGNALS = ['Vibration', 'Temperature', 'Pressure', 'MotorCurrent'] as const;
export type PlantSignal = (typeof PLANT_SIGNALS)[number];

/** `bad`: the sensor reports BadSensorFailure; `stuck`: the value freezes, timestamps go on; `outage`: no updates at all. */
export type SignalFault = 'bad' | 'stuck' | 'spike' | 'outage';

export interface SignalReading {
  value: number;
  /** An OPC-UA status name: `Good` or a Bad status. */
  status: 'Good' | 'BadSensorFailure';
  /** False while the signal is in an outage: nothing is published. */
  publish: boolean;
}

const BASE: Record<PlantSignal, { mean: number; noise: number; wave: number; periodS: number }> = {
  Vibration: { mean: 2.0, noise: 0.15, wave: 0.2, periodS: 7 },
  Temperature: { mean: 45, noise: 0.05, wave: 1.5, periodS: 120 },
  Pressure: { mean: 6.0, noise: 0.04, wave: 0.1, periodS: 11 },
  MotorCurrent: { mean: 12, noise: 0.1, wave: 0.4, periodS: 13 },
};

/** How each signal follows bearing wear (0 healthy … 1 worn): a worn bearing shakes, heats and draws current. */
const WEAR: Record<PlantSignal, number> = { Vibration: 5, Temperature: 18, Pressure: -0.4, MotorCurrent: 3 };

/** A normal distribution from two uniforms (Box–Muller). */
function gaussian(random: Random): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export class PlantSignals {
  private readonly random: Random;
  private readonly faults = new Map<PlantSignal, SignalFault>();
  private readonly frozen = new Map<PlantSignal, number>();
  /** Bearing wear, 0 … 1; grows by `driftPerS` every second. */
  wear = 0;
  driftPerS = 0;

  constructor(seed = 1) {
    this.random = mulberry32(seed);
  }

  inject(signal: PlantSignal, fault: SignalFault | 'clear'): void {
    if (fault === 'clear') {
      this.faults.delete(signal);
      this.frozen.delete(signal);
    } else this.faults.set(signal, fault);
  }

  /** Advances wear by `dtS` seconds of drift. */
  step(dtS: number): void {
    this.wear = Math.min(1, Math.max(0, this.wear + this.driftPerS * dtS));
  }

  /** The reading of `signal` at wall time `t` (ms). */
  read(signal: PlantSignal, t: number): SignalReading {
    const b = BASE[signal];
    const fault = this.faults.get(signal);
    let value = b.mean + b.wave * Math.sin((2 * Math.PI * t) / 1000 / b.periodS) + b.noise * gaussian(this.random) + WEAR[signal] * this.wear;
    if (fault === 'stuck') {
      if (!this.frozen.has(signal)) this.frozen.set(signal, value);
      value = this.frozen.get(signal)!;
    }
    if (fault === 'spike') value += b.mean * 4;
    return { value: Math.round(value * 1000) / 1000, status: fault === 'bad' ? 'BadSensorFailure' : 'Good', publish: fault !== 'outage' };
  }
}
