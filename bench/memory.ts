// Server memory from /proc/<pid>/status: VmRSS sampled on an interval and VmHWM
// (the kernel's own peak, which catches spikes between samples). The peak is reset
// per scenario by writing 5 to /proc/<pid>/clear_refs, so each scenario reports
// its own peak rather than the process's lifetime peak. BENCH_SMAPS_DIR=<dir> keeps a copy of
// /proc/<pid>/smaps at each sampler's start and stop (to account for what the RSS holds).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryReading {
  /** Largest RSS seen, bytes: max of the samples and the kernel's high-water mark. */
  peak: number;
  /** Whether the kernel peak could be reset (otherwise peak is the sampled max and the lifetime HWM is ignored). */
  hwmReset: boolean;
  samples: number;
}

export function readStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export class MemorySampler {
  private max = 0;
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly hwmReset: boolean;

  constructor(private readonly pid: number, intervalMs = 50) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      reset = true;
    } catch {
      // Not permitted here: fall back to sampling only.
    }
    this.hwmReset = reset;
    keepSmaps(pid, 'start');
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): MemoryReading {
    clearInterval(this.timer);
    this.sample();
    keepSmaps(this.pid, 'stop');
    let peak = this.max;
    if (this.hwmReset) {
      try {
        peak = Math.max(peak, readStatus(this.pid).hwm);
      } catch {
        // the process is gone; keep the sampled peak
      }
    }
    return { peak, hwmReset: this.hwmReset, samples: this.samples };
  }

  private sample(): void {
    try {
      const { rss } = readStatus(this.pid);
      if (rss > this.max) this.max = rss;
      this.samples++;
    } catch {
      // the process exited between samples
    }
  }
}

let smapsCount = 0;
/** With BENCH_SMAPS_DIR: copies /proc/<pid>/smaps there, numbered in order (measurement only). */
function keepSmaps(pid: number, when: string): void {
  const dir = process.env.BENCH_SMAPS_DIR;
  if (!dir) return;
  try {
    writeFileSync(join(dir, `${String(++smapsCount).padStart(2, '0')}-${when}.smaps`), readFileSync(`/proc/${pid}/smaps`));
  } catch {
    // the process is gone
  }
}
