/**
 * A one-line progress bar for a TTY stream (stderr). On anything else (a pipe, a file, a test)
 * it draws nothing, so scripts get only the report.
 */
export interface Progress {
  tick(done: number, note?: string): void;
  done(): void;
}

export function progressBar(stream: NodeJS.WriteStream, total: number, label: string): Progress {
  if (!stream.isTTY) return { tick() {}, done() {} };
  let last = 0;
  const draw = (done: number, note: string): void => {
    const width = 30;
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(ratio * width);
    stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${note}`.padEnd(stream.columns ? stream.columns - 1 : 0));
  };
  return {
    tick(done, note = '') {
      const now = Date.now();
      if (now - last < 100 && done < total) return; // at most 10 redraws a second
      last = now;
      draw(done, note);
    },
    done() {
      stream.write('\n');
    },
  };
}
