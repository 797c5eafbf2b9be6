import { registerBunCases } from "../support/bun-cases.ts";
import { healthCases } from "./health.cases.ts";

registerBunCases(healthCases);
