import { registerBunCases } from "../support/bun-cases.ts";
import { processCases } from "./process.cases.ts";

registerBunCases(processCases);
