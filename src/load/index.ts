/** Programmatic API of the load generator, for tests and benchmarks. */
export { runLoad, writeReport, TargetUnreachableError, type LoadOptions, type LoadReport, type ProgressSample, type StopReason } from './runner.ts';
export { parseScenario, loadScenarioFile, ScenarioError, OPERATIONS, type Operation, type Scenario, type ScenarioOverrides } from './scenario.ts';
export { parseTarget, parseTargets, TargetRefusedError } from './targets.ts';
export { formatReport } from './format.ts';
export type { OperationReport, LatencySummaryMs } from './stats.ts';
