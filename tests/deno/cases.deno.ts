/**
 * Runs the runtime-neutral behaviour cases under Deno. `bun test` runs the
 * same groups through the `*.test.ts` files beside each case module, so
 * adding a group here is one import and one list entry.
 *
 * Deno does not type-check this file (`deno task test` passes --no-check)
 * because the case modules reach `src/runtime/bun.ts`, whose Bun types clash
 * with Deno's. `tsc -p .` type-checks the case modules instead.
 */
import { registerDenoCases } from "../support/deno-cases.ts";
import { accessCases } from "../admin/access.cases.ts";
import { healthCases } from "../admin/health.cases.ts";
import { lifecycleCases } from "../admin/lifecycle.cases.ts";
import { lineWriterCases } from "../admin/line-writer.cases.ts";
import { loggingCases } from "../admin/logging.cases.ts";
import { metricsCases } from "../admin/metrics.cases.ts";
import { operationsCases } from "../admin/operations.cases.ts";
import { processCases } from "../admin/process.cases.ts";
import { prometheusCases } from "../admin/prometheus.cases.ts";
import { reloadCases } from "../admin/reload.cases.ts";
import { serverCases } from "../admin/server.cases.ts";
import { serviceCases } from "../admin/service.cases.ts";
import { documentedCases } from "../config/documented.cases.ts";
import { durationCases } from "../config/duration.cases.ts";
import { configErrorCases } from "../config/errors.cases.ts";
import { configLimitCases } from "../config/limits.cases.ts";
import { configLoadCases } from "../config/load.cases.ts";
import { headerCases } from "../proxy/header-cases.ts";
import { httpCases } from "../proxy/http-cases.ts";
import { trustedCases } from "../proxy/trusted-cases.ts";
import { webSocketCases } from "../proxy/websocket-cases.ts";
import { askCases } from "../router/ask.cases.ts";
import { configCases } from "../router/config.cases.ts";
import { exchangeCases } from "../router/exchange.cases.ts";
import { idleCases } from "../router/idle.cases.ts";
import { methodCases } from "../router/methods.cases.ts";
import { routingCases } from "../router/routing.cases.ts";
import { slicerClientCases } from "../router/slicer-client.cases.ts";
import { slicerCases } from "../router/slicer.cases.ts";
import { trafficCases } from "../router/traffic.cases.ts";
import { wakeCases } from "../router/wake.cases.ts";
import { http1Cases } from "../runtime/http1.cases.ts";
import { overdueCases } from "../runtime/overdue.cases.ts";

const groups = [
  routingCases,
  methodCases,
  exchangeCases,
  askCases,
  slicerClientCases,
  slicerCases,
  wakeCases,
  idleCases,
  trafficCases,
  configCases,
  headerCases,
  httpCases,
  trustedCases,
  webSocketCases,
  documentedCases,
  durationCases,
  configErrorCases,
  configLoadCases,
  configLimitCases,
  accessCases,
  healthCases,
  lifecycleCases,
  lineWriterCases,
  loggingCases,
  metricsCases,
  operationsCases,
  processCases,
  prometheusCases,
  reloadCases,
  serverCases,
  serviceCases,
  http1Cases,
  overdueCases,
];

for (const group of groups) registerDenoCases(group);
