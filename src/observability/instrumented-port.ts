/** Counts every decision the service makes, by command and outcome, in `decisions_total`. */
import type { LicensePort } from '../service/license-port.ts';
import type { CheckResult } from '../service/license-service.ts';
import type { EdgeMetrics } from './metrics.ts';

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

export function instrumentDecisions(port: LicensePort, metrics: EdgeMetrics): LicensePort {
  // A check is the hot path: counted in a `then` of the port's promise rather than an async
  // wrapper awaiting it (one promise and one turn of the microtask queue less per check).
  const countCheck = (result: CheckResult): CheckResult => {
    // Degraded: the fallback for an unreadable history, or decided on the cold tier's copy (hot unreachable).
    if (result.degraded !== undefined) metrics.countDecision('Check', 'degraded', result.degraded === 'hot-tier-unavailable' ? 'HOT_TIER_UNAVAILABLE' : 'EVENT_DECODE_FAILED');
    else metrics.countDecision('Check', result.allowed ? 'allowed' : 'refused', result.allowed ? 'NONE' : result.reason);
    return result;
  };
  const countCheckError = (error: unknown): never => {
    metrics.countDecision('Check', 'error', codeOf(error));
    throw error;
  };
  return {
    async execute(memberId, input) {
      try {
        const result = await port.execute(memberId, input);
        metrics.countDecision(input.type, result.outcome, result.outcome === 'refused' ? result.refusal.reason : result.repeated ? 'REPEATED' : 'NONE');
        return result;
      } catch (error) {
        metrics.countDecision(input.type, 'error', codeOf(error));
        throw error;
      }
    },
    check(memberId, input) {
      let answer: Promise<CheckResult>;
      try {
        answer = port.check(memberId, input);
      } catch (error) {
        answer = Promise.reject(error); // as an async wrapper would: a port that throws at once is a failed check
      }
      return answer.then(countCheck, countCheckError);
    },
    activeLicenses: (memberId) => port.activeLicenses(memberId),
  };
}
