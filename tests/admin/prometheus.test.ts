import { registerBunCases } from "../support/bun-cases.ts";
import { prometheusCases } from "./prometheus.cases.ts";

registerBunCases(prometheusCases);
