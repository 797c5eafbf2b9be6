import { registerBunCases } from "../support/bun-cases.ts";
import { metricsCases } from "./metrics.cases.ts";

registerBunCases(metricsCases);
