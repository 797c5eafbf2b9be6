import { registerBunCases } from "../support/bun-cases.ts";
import { loggingCases } from "./logging.cases.ts";

registerBunCases(loggingCases);
