// The server's logger: pino, writing one JSON object per line to stdout when stdout is a
// file, pipe or journal (what log shippers read), and one readable line per record when
// it is a terminal. The readable form is a few lines here rather than pino-pretty, which
// brings a dozen dependencies for the same job.

import { pino, type Logger, type LevelWithSilent } from 'pino';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields the readable line shows in its head, or never. */
const HEAD = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function shown(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v !== null && typeof v === 'object') {
    const e = v as { type?: string; message?: string; stack?: string };
    if (typeof e.message === 'string' && typeof e.stack === 'string') return JSON.stringify(`${e.type ?? 'Error'}: ${e.message}`);
    return JSON.stringify(v);
  }
  return String(v);
}

/** One pino JSON record as `12:04:05.123 INFO  message key=value ...`. */
export function readableLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5);
  const rest = Object.keys(rec).filter((k) => !HEAD.has(k)).map((k) => `${k}=${shown(rec[k])}`);
  return `${time} ${level} ${String(rec.msg ?? '')}${rest.length ? ' ' + rest.join(' ') : ''}\n`;
}

/** A pino destination that writes readable lines to a stream (the terminal). */
function readableDestination(out: NodeJS.WritableStream): { write(s: string): boolean } {
  return { write: (s: string) => out.write(readableLine(s.endsWith('\n') ? s.slice(0, -1) : s)) };
}

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Readable lines instead of JSON (default: when stdout is a terminal). */
  readable?: boolean;
  /** Where lines go (default stdout). */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.out ?? process.stdout;
  const readable = opts.readable ?? out.isTTY === true;
  if (readable) return pino({ level: opts.level }, readableDestination(out));
  return opts.out ? pino({ level: opts.level }, opts.out) : pino({ level: opts.level });
}
