// Progress of a long CLI run on stderr: on a terminal one bar redrawn in place
// (objects done/total, bytes covered, objects per second, ETA); otherwise a plain line
// every few seconds, so logs and CI output stay readable. The total may still be
// counting (shown as "≥n") while the work has already started.

export interface ProgressSnapshot {
  done: number;
  bytes: number;
  /** Objects in the run, when known; with `counting`, a lower bound. */
  total: number;
  counting: boolean;
}

export class ProgressReporter {
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private lastWidth = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly snapshot: () => ProgressSnapshot,
    private readonly opts: { tty: boolean; intervalMs?: number; /** What is counted (default objects); bytes are left out for anything else. */ unit?: string },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.draw(), this.opts.intervalMs ?? (this.opts.tty ? 200 : 5000));
    this.timer.unref();
  }

  /** Stops and leaves the last state visible (a terminal bar ends with a newline). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    if (this.opts.tty) this.out.write('\n');
  }

  line(): string {
    const s = this.snapshot();
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = s.done / seconds;
    const total = s.counting ? `≥${s.total}` : String(s.total);
    const remaining = s.counting ? undefined : Math.max(s.total - s.done, 0);
    const eta = remaining === undefined || rate === 0 ? '--:--' : duration(remaining / rate);
    const unit = this.opts.unit ?? 'objects';
    const bytes = unit === 'objects' ? `  ${formatBytes(s.bytes)}` : '';
    const text = `${s.done}/${total} ${unit}${bytes}  ${rate.toFixed(rate < 10 ? 1 : 0)} ${unit}/s  ETA ${eta}`;
    if (!this.opts.tty) return text;
    const width = 24;
    const fraction = s.total === 0 ? (s.counting ? 0 : 1) : Math.min(s.done / s.total, 1);
    const filled = Math.round(fraction * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${text}`;
  }

  private draw(): void {
    const text = this.line();
    if (this.opts.tty) {
      this.out.write(`\r${text.padEnd(this.lastWidth)}`);
      this.lastWidth = text.length;
    } else {
      this.out.write(`coffer: progress: ${text}\n`);
    }
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
