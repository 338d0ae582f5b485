/** Counts every decision the service makes, by command and outcome, in `decisions_total`. */
import type { LicensePort } from '../service/license-port.ts';
import type { EdgeMetrics } from './metrics.ts';

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

export function instrumentDecisions(port: LicensePort, metrics: EdgeMetrics): LicensePort {
  return {
    async execute(memberId, input) {
      try {
        const result = await port.execute(memberId, input);
        metrics.decisions.inc({
          command: input.type,
          outcome: result.outcome,
          reason: result.outcome === 'refused' ? result.refusal.reason : result.repeated ? 'REPEATED' : 'NONE',
        });
        return result;
      } catch (error) {
        metrics.decisions.inc({ command: input.type, outcome: 'error', reason: codeOf(error) });
        throw error;
      }
    },
    async check(memberId, input) {
      try {
        const result = await port.check(memberId, input);
        // Degraded: the fallback for an unreadable history, or decided on the cold tier's copy (hot unreachable).
        if (result.degraded !== undefined)
          metrics.decisions.inc({ command: 'Check', outcome: 'degraded', reason: result.degraded === 'hot-tier-unavailable' ? 'HOT_TIER_UNAVAILABLE' : 'EVENT_DECODE_FAILED' });
        else metrics.decisions.inc({ command: 'Check', outcome: result.allowed ? 'allowed' : 'refused', reason: result.allowed ? 'NONE' : result.reason });
        return result;
      } catch (error) {
        metrics.decisions.inc({ command: 'Check', outcome: 'error', reason: codeOf(error) });
        throw error;
      }
    },
    activeLicenses: (memberId) => port.activeLicenses(memberId),
  };
}
