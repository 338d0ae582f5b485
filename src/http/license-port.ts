/**
 * What the HTTP layer needs from the service. The in-process LicenseService provides it today;
 * the actor pool (worker threads) will provide the same interface.
 */
import type { LicenseState } from '../domain/aggregates/license.ts';
import type { CheckInput, CheckResult, CommandInput, CommandResult } from '../service/license-service.ts';

export interface LicensePort {
  execute(memberId: string, input: CommandInput): Promise<CommandResult>;
  check(memberId: string, input: CheckInput): Promise<CheckResult>;
  activeLicenses(memberId: string): Promise<LicenseState[]>;
}
