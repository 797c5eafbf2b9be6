import { registerBunCases } from "../support/bun-cases.ts";
import { operationsCases } from "./operations.cases.ts";

registerBunCases(operationsCases);
