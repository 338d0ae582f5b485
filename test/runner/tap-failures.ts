/**
 * Collects the failures of a TAP stream as it goes by, so that a run can end with them: CI keeps
 * only the tail of a long log, and three failures among seven thousand passes must not need the
 * whole log to be found. Each failure is named by its path of subtests (file > test > assertion)
 * and keeps the start of its YAML diagnostic (message, at, found/wanted).
 */
const DIAGNOSTIC_LINES = 40;

export class TapFailures {
  readonly #failures: string[] = [];
  /** The open subtests by indentation depth: `# Subtest: name` at 4·depth spaces. */
  readonly #subtests: string[] = [];
  #pending = '';
  #diagnostic: string[] | null = null;
  #awaitingDiagnostic = false;

  push(chunk: string): void {
    const lines = (this.#pending + chunk).split('\n');
    this.#pending = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  /** The failures seen, each with its diagnostic lines. */
  report(): string[] {
    this.#closeDiagnostic();
    return [...this.#failures];
  }

  #line(line: string): void {
    if (this.#awaitingDiagnostic) {
      this.#awaitingDiagnostic = false;
      // A failure's YAML block, if it has one, opens on the very next line.
      if (/^\s*---\s*$/.test(line)) {
        this.#diagnostic = [];
        return;
      }
    }
    if (this.#diagnostic) {
      if (/^\s*\.\.\.\s*$/.test(line)) this.#closeDiagnostic();
      else if (this.#diagnostic.length < DIAGNOSTIC_LINES) this.#diagnostic.push(line);
      return;
    }
    const subtest = /^( *)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const depth = Math.floor((subtest[1] ?? '').length / 4);
      this.#subtests.length = depth;
      this.#subtests[depth] = subtest[2] ?? '';
      return;
    }
    const failed = /^( *)not ok \d+ - (.*?)(?: # (?:time=.*))?$/.exec(line);
    if (!failed) return;
    const depth = Math.floor((failed[1] ?? '').length / 4);
    const name = failed[2] ?? '';
    // A parent's "not ok" repeats a child's failure already reported: keep only the deepest.
    const path = [...this.#subtests.slice(0, depth), name].join(' > ');
    if (this.#failures.some((failure) => failure.startsWith(`${path} > `))) return;
    this.#failures.push(path);
    this.#awaitingDiagnostic = true;
  }

  #closeDiagnostic(): void {
    if (!this.#diagnostic) return;
    const body = this.#diagnostic.map((line) => `    ${line.trim()}`);
    const last = this.#failures.length - 1;
    if (last >= 0 && body.length > 0) this.#failures[last] = [this.#failures[last], ...body].join('\n');
    this.#diagnostic = null;
  }
}
