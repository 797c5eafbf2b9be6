import { registerBunCases } from "../support/bun-cases.ts";
import { configLimitCases } from "./limits.cases.ts";

registerBunCases(configLimitCases);
