// CLI output conventions: results to stdout, diagnostics to stderr as
// "coffer: error: ..." followed by "coffer: hint: ..." lines.

export class CliError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export function fail(message: string, hint?: string): never {
  process.stderr.write(`coffer: error: ${message}\n`);
  if (hint) process.stderr.write(`coffer: hint: ${hint}\n`);
  process.exit(2);
}

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
