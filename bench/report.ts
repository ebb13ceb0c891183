// The benchmark's output: the machine line and one markdown table, rows grouped by
// scenario with the variants side by side and their ratio.

import os from 'node:os';

export interface Row {
  scenario: string;
  variant: string;
  result: string;
  target: string;
  /** undefined: no target for this row. */
  met?: boolean;
  /** The headline number used for ratios between variants (higher is better unless lowerIsBetter). */
  value?: number;
  lowerIsBetter?: boolean;
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}, ${os.type()} ${os.release()}`;
}

/** Other work on the machine skews every number here; say how busy it was. */
export function loadLine(label: string): string {
  const [one, five] = os.loadavg();
  const busy = one! > 0.5 ? ' — the machine was not idle; treat absolute numbers with caution, ratios less so' : '';
  return `Load average ${label}: ${one!.toFixed(2)} (1 min), ${five!.toFixed(2)} (5 min)${busy}`;
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

/** Rows in scenario order (first appearance), each scenario followed by a ratio row when two variants have values (none without ratioOf). */
export function table(rows: Row[], ratioOf?: [string, string]): string {
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const lines = ['| scenario | variant | result | target | met? |', '|---|---|---|---|---|'];
  for (const s of scenarios) {
    const group = rows.filter((r) => r.scenario === s);
    for (const r of group) {
      const met = r.met === undefined ? '—' : r.met ? 'yes' : '**NO**';
      lines.push(`| ${esc(r.scenario)} | ${esc(r.variant)} | ${esc(r.result)} | ${esc(r.target)} | ${met} |`);
    }
    if (!ratioOf) continue;
    const a = group.find((r) => r.variant === ratioOf[0]);
    const b = group.find((r) => r.variant === ratioOf[1]);
    if (a?.value && b?.value) {
      const ratio = (b.value / a.value).toFixed(2);
      lines.push(`| ${esc(s)} | ${ratioOf[1]} ÷ ${ratioOf[0]} | ${ratio}×${a.lowerIsBetter ? ' (lower is better)' : ''} | | |`);
    }
  }
  return lines.join('\n');
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMB = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
export const fmtSize = (bytes: number) =>
  bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0 ? `${bytes / 1024 ** 3} GiB` : bytes >= 1024 ** 2 ? `${Math.round(bytes / 1024 ** 2)} MiB` : `${Math.round(bytes / 1024)} KiB`;
